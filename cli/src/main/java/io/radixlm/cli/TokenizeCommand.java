package io.radixlm.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.radixlm.tokenizer.HfTokenizer;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.StringJoiner;
import java.util.concurrent.Callable;

/** Shows how a tokenizer splits a text: the ids (BOS as the tokenizer adds it), each token, and the decode. */
@Command(name = "tokenize", mixinStandardHelpOptions = true,
        description = "Tokenize a text as a model's tokenizer.json does (special tokens such as BOS included).")
final class TokenizeCommand implements Callable<Integer> {
    static final class Source {
        @Option(names = "--model", paramLabel = "DIR", required = true, description = "Model directory holding tokenizer.json.")
        Path modelDir;

        @Option(names = "--tokenizer", paramLabel = "FILE", required = true, description = "A tokenizer.json file.")
        Path tokenizerFile;

        Path tokenizerJson() { return tokenizerFile != null ? tokenizerFile : modelDir.resolve("tokenizer.json"); }
    }

    @Spec
    CommandSpec spec;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    @Option(names = "--text", paramLabel = "TEXT", required = true, description = "The text to tokenize.")
    String text;

    @Option(names = "--json", description = "Print {ids, tokens, text} as one JSON object.")
    boolean json;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        try (HfTokenizer tokenizer = HfTokenizer.load(source.tokenizerJson())) {
            int[] ids = tokenizer.encode(text, true);
            String decoded = tokenizer.decode(ids);
            if (json) {
                out.println(toJson(tokenizer, ids, decoded));
            } else {
                StringJoiner list = new StringJoiner(",");
                for (int id : ids) list.add(Integer.toString(id));
                out.println(list);
                for (int id : ids) out.println(id + "\t" + tokenizer.tokenText(id));
                out.println("decoded: " + decoded);
            }
            out.flush();
        }
        return 0;
    }

    private static String toJson(HfTokenizer tokenizer, int[] ids, String decoded) {
        ObjectNode node = new ObjectMapper().createObjectNode();
        ArrayNode idArray = node.putArray("ids");
        ArrayNode tokens = node.putArray("tokens");
        for (int id : ids) {
            idArray.add(id);
            tokens.add(tokenizer.tokenText(id));
        }
        node.put("text", decoded);
        return node.toString();
    }
}
