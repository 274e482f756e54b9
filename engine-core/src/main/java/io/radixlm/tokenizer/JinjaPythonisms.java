package io.radixlm.tokenizer;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import jinjava.javax.el.CompositeELResolver;

import java.time.ZonedDateTime;
import java.time.format.TextStyle;
import java.util.Locale;
import java.util.Map;
import java.util.function.BiFunction;
import java.util.regex.Pattern;

/**
 * What Hugging Face chat templates take from Python and transformers' Jinja environment, made to work in
 * Jinjava: trim_blocks and lstrip_blocks as transformers sets them, Python's str methods
 * ({@link PyStringMethods}), tojson printing as Python's json.dumps, and the raise_exception and
 * strftime_now functions transformers adds.
 */
final class JinjaPythonisms {

    // Jinjava's parser has no extended slices; the one chat templates use reverses a list.
    private static final Pattern REVERSED = Pattern.compile("\\[\\s*:\\s*:\\s*-1\\s*]");

    // Jinjava parses a keyword argument's value only up to its filter: namespace(n=xs|length - 1) means
    // (n=xs|length) - 1 there. Python's Jinja reads the whole expression; parentheses make Jinjava agree.
    private static final Pattern FILTERED_KEYWORD_ARG =
            Pattern.compile("(\\b[A-Za-z_]\\w*\\s*=\\s*)([^,()'\"=|]+\\|[^,()'\"=]+?)(\\s*[,)])");

    private JinjaPythonisms() { }

    /**
     * The template in the subset of Jinja that Jinjava parses as Python's Jinja does: {@code x[::-1]} as
     * {@code x|reverse|list}, and keyword arguments holding a filter expression in parentheses.
     */
    static String rewrite(String template) {
        String reversed = REVERSED.matcher(template).replaceAll("|reverse|list");
        return FILTERED_KEYWORD_ARG.matcher(reversed).replaceAll("$1($2)$3");
    }

    /** A Jinjava with transformers' environment: trim_blocks, lstrip_blocks, Python str methods and helpers. */
    static Jinjava newJinjava() {
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PyStringMethods());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_WRITE);
        // Python Jinja's behaviour where Jinjava has a switch for it: {{- x -}} trims around expressions,
        // operators bind as in Python, {key: v} evaluates key, loops keep None items.
        LegacyOverrides pythonJinja = LegacyOverrides.newBuilder()
                .withUseTrimmingForNotesAndExpressions(true)
                .withParseWhitespaceControlStrictly(true)
                .withUseNaturalOperatorPrecedence(true)
                .withEvaluateMapKeys(true)
                .withKeepNullableLoopValues(true)
                .build();
        Jinjava jinjava = new Jinjava(JinjavaConfig.newBuilder()
                .withTrimBlocks(true).withLstripBlocks(true)
                .withLegacyOverrides(pythonJinja)
                .withElResolver(resolver).build());
        jinjava.getGlobalContext().registerFilter(new NamedFilter("tojson", (v, a) -> PythonJson.dumps(v, indentArg(a))));
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition(
                "", "raise_exception", JinjaPythonisms.class, "raiseException", String.class));
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition(
                "", "strftime_now", JinjaPythonisms.class, "strftimeNow", String.class));
        return jinjava;
    }

    /** Thrown by templates that reject a conversation (e.g. roles that do not alternate). */
    public static Object raiseException(String message) {
        throw new ChatTemplateException(message);
    }

    /** Python's datetime.now().strftime for the directives chat templates use (%d %b %B %Y %m %H %M %S %y %a %A). */
    public static String strftimeNow(String format) {
        ZonedDateTime now = ZonedDateTime.now();
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c != '%' || i + 1 == format.length()) {
                out.append(c);
                continue;
            }
            char d = format.charAt(++i);
            out.append(switch (d) {
                case 'd' -> String.format("%02d", now.getDayOfMonth());
                case 'm' -> String.format("%02d", now.getMonthValue());
                case 'Y' -> String.valueOf(now.getYear());
                case 'y' -> String.format("%02d", now.getYear() % 100);
                case 'H' -> String.format("%02d", now.getHour());
                case 'M' -> String.format("%02d", now.getMinute());
                case 'S' -> String.format("%02d", now.getSecond());
                case 'b' -> now.getMonth().getDisplayName(TextStyle.SHORT, Locale.ENGLISH);
                case 'B' -> now.getMonth().getDisplayName(TextStyle.FULL, Locale.ENGLISH);
                case 'a' -> now.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.ENGLISH);
                case 'A' -> now.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.ENGLISH);
                case '%' -> "%";
                default -> "%" + d;
            });
        }
        return out.toString();
    }

    private static int indentArg(Object[] args) {
        return args.length == 0 || !(args[0] instanceof Number n) ? -1 : n.intValue();
    }

    /** A filter from a lambda; Jinjava hands evaluated arguments to the Object[] overload. */
    private record NamedFilter(String name, BiFunction<Object, Object[], Object> fn) implements Filter {
        @Override
        public String getName() { return name; }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, String... args) {
            return fn.apply(var, args);
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            if (args.length == 0 && kwargs.containsKey("indent")) return fn.apply(var, new Object[] {kwargs.get("indent")});
            return fn.apply(var, args);
        }
    }
}
