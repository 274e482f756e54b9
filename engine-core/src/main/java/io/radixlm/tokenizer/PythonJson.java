package io.radixlm.tokenizer;

import java.util.Collection;
import java.util.Map;

/**
 * JSON as Python's json.dumps(x, ensure_ascii=False) prints it, which is what transformers' tojson filter
 * gives templates: ", " and ": " between items without indent, "," and ": " with it, non-ASCII kept.
 */
final class PythonJson {

    private PythonJson() { }

    /** indent &lt; 0 prints on one line, as json.dumps with indent=None. */
    static String dumps(Object value, int indent) {
        StringBuilder out = new StringBuilder();
        write(out, value, indent, 0);
        return out.toString();
    }

    private static void write(StringBuilder out, Object value, int indent, int depth) {
        switch (value) {
            case null -> out.append("null");
            case String s -> quote(out, s);
            case Boolean b -> out.append(b ? "true" : "false");
            case Number n -> out.append(n);
            case Map<?, ?> map -> writeItems(out, '{', '}', map.entrySet(), indent, depth);
            case Collection<?> list -> writeItems(out, '[', ']', list, indent, depth);
            case Object[] array -> writeItems(out, '[', ']', java.util.Arrays.asList(array), indent, depth);
            default -> quote(out, value.toString());
        }
    }

    private static void writeItems(StringBuilder out, char open, char close, Collection<?> items, int indent, int depth) {
        out.append(open);
        if (items.isEmpty()) {
            out.append(close);
            return;
        }
        boolean first = true;
        for (Object item : items) {
            if (!first) out.append(indent < 0 ? ", " : ",");
            first = false;
            newline(out, indent, depth + 1);
            if (item instanceof Map.Entry<?, ?> e) {
                quote(out, String.valueOf(e.getKey()));
                out.append(": ");
                write(out, e.getValue(), indent, depth + 1);
            } else {
                write(out, item, indent, depth + 1);
            }
        }
        newline(out, indent, depth);
        out.append(close);
    }

    private static void newline(StringBuilder out, int indent, int depth) {
        if (indent < 0) return;
        out.append('\n').append(" ".repeat(indent * depth));
    }

    private static void quote(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                case '\b' -> out.append("\\b");
                case '\f' -> out.append("\\f");
                default -> {
                    if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
                    else out.append(c);
                }
            }
        }
        out.append('"');
    }
}
