package io.radixlm.cuda.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * One measured case of a benchmark item: its JSON fields and the line the human table shows.
 *
 * @param item    the item's key in the JSON, e.g. "decode_b1"
 * @param label   the case, e.g. "Llama-3.1-8B" or "batch 64, context 8192"
 * @param summary the table's text for it, e.g. "251 tok/s, 88.4% of roofline"
 */
public record Measurement(String item, String label, String summary, ObjectNode json) {
}
