package io.radixlm.testing;

import java.util.List;

/**
 * A golden tokenizer's cases.json: what the Hugging Face tokenizers library gives for tricky strings.
 *
 * @param tokenizer fixture name ("bytelevel" or "spm_bytefallback")
 * @param cases     one entry per string
 */
public record TokenizerCases(String tokenizer, List<Case> cases) {

    public TokenizerCases {
        cases = List.copyOf(cases);
    }

    /**
     * @param text             the input
     * @param ids              encode(text, addSpecialTokens = true)
     * @param idsNoSpecial     encode(text, addSpecialTokens = false)
     * @param tokensNoSpecial  the token strings of idsNoSpecial (for readable failure messages)
     * @param decoded          decode(ids) with special tokens skipped
     */
    public record Case(String text, int[] ids, int[] idsNoSpecial, List<String> tokensNoSpecial, String decoded) {
        public Case {
            if (text == null || ids == null || idsNoSpecial == null || decoded == null) {
                throw new IllegalArgumentException("incomplete tokenizer case");
            }
        }
    }
}
