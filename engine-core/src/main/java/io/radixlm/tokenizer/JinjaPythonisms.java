package io.radixlm.tokenizer;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.filter.Filter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;

import java.time.ZonedDateTime;
import java.time.format.TextStyle;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.BiFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What Hugging Face chat templates take from Python and transformers' Jinja environment, made to work in
 * Jinjava. Jinjava calls Java methods on strings, so {@code s.strip()} and {@code s.replace(a, b)} work as
 * they are, but {@code s.startswith(x)}, {@code s.lstrip()}, {@code s.split()} ... do not exist in Java: the
 * template source is rewritten to call same-named {@code py_} filters instead (a filter binds to the same
 * postfix expression a method call does). tojson prints as Python's json.dumps, raise_exception and
 * strftime_now are the functions transformers adds.
 */
final class JinjaPythonisms {

    private static final Pattern TAG = Pattern.compile("\\{\\{.*?}}|\\{%.*?%}", Pattern.DOTALL);
    private static final Pattern STRING_METHOD = Pattern.compile(
            "\\.(startswith|endswith|lstrip|rstrip|strip|split|upper|lower|title|capitalize|find|count)\\(");

    private JinjaPythonisms() { }

    /** The template with Python string-method calls inside its tags turned into py_ filter calls. */
    static String rewrite(String template) {
        Matcher tags = TAG.matcher(template);
        StringBuilder out = new StringBuilder(template.length());
        while (tags.find()) {
            String rewritten = STRING_METHOD.matcher(tags.group()).replaceAll("|py_$1(");
            tags.appendReplacement(out, Matcher.quoteReplacement(rewritten));
        }
        tags.appendTail(out);
        return out.toString();
    }

    static void register(Jinjava jinjava) {
        addStringFilter(jinjava, "startswith", (s, a) -> anyArg(a, s::startsWith));
        addStringFilter(jinjava, "endswith", (s, a) -> anyArg(a, s::endsWith));
        addStringFilter(jinjava, "lstrip", (s, a) -> strip(s, charsArg(a), true, false));
        addStringFilter(jinjava, "rstrip", (s, a) -> strip(s, charsArg(a), false, true));
        addStringFilter(jinjava, "strip", (s, a) -> strip(s, charsArg(a), true, true));
        addStringFilter(jinjava, "split", JinjaPythonisms::split);
        addStringFilter(jinjava, "upper", (s, a) -> s.toUpperCase(Locale.ROOT));
        addStringFilter(jinjava, "lower", (s, a) -> s.toLowerCase(Locale.ROOT));
        addStringFilter(jinjava, "title", (s, a) -> title(s));
        addStringFilter(jinjava, "capitalize", (s, a) ->
                s.isEmpty() ? s : s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1).toLowerCase(Locale.ROOT));
        addStringFilter(jinjava, "find", (s, a) -> s.indexOf(String.valueOf(a[0])));
        addStringFilter(jinjava, "count", (s, a) -> count(s, String.valueOf(a[0])));
        jinjava.getGlobalContext().registerFilter(new NamedFilter("tojson", (v, a) -> PythonJson.dumps(v, indentArg(a))));
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition(
                "", "raise_exception", JinjaPythonisms.class, "raiseException", String.class));
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition(
                "", "strftime_now", JinjaPythonisms.class, "strftimeNow", String.class));
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

    private static void addStringFilter(Jinjava jinjava, String name, BiFunction<String, Object[], Object> fn) {
        jinjava.getGlobalContext().registerFilter(new NamedFilter("py_" + name,
                (v, a) -> v == null ? null : fn.apply(v.toString(), a)));
    }

    private static boolean anyArg(Object[] args, java.util.function.Predicate<String> test) {
        Object arg = args.length == 0 ? "" : args[0];
        if (arg instanceof Collection<?> options) {         // Python accepts a tuple of prefixes
            return options.stream().anyMatch(o -> test.test(String.valueOf(o)));
        }
        return test.test(String.valueOf(arg));
    }

    private static int indentArg(Object[] args) {
        return args.length == 0 || !(args[0] instanceof Number n) ? -1 : n.intValue();
    }

    private static String charsArg(Object[] args) {
        return args.length == 0 || args[0] == null ? null : args[0].toString();
    }

    // Python's strip family: without chars, strips whitespace; with chars, strips any of those characters.
    private static String strip(String s, String chars, boolean left, boolean right) {
        int start = 0;
        int end = s.length();
        while (left && start < end && strippable(s.charAt(start), chars)) start++;
        while (right && end > start && strippable(s.charAt(end - 1), chars)) end--;
        return s.substring(start, end);
    }

    private static boolean strippable(char c, String chars) {
        return chars == null ? Character.isWhitespace(c) || Character.isSpaceChar(c) : chars.indexOf(c) >= 0;
    }

    private static List<String> split(String s, Object[] args) {
        if (args.length == 0 || args[0] == null) {
            String stripped = strip(s, null, true, true);
            return stripped.isEmpty() ? List.of() : Arrays.asList(stripped.split("\\s+"));
        }
        String sep = args[0].toString();
        List<String> parts = new ArrayList<>();
        int from = 0;
        for (int at = s.indexOf(sep); at >= 0 && !sep.isEmpty(); at = s.indexOf(sep, from)) {
            parts.add(s.substring(from, at));
            from = at + sep.length();
        }
        parts.add(s.substring(from));
        return parts;
    }

    private static String title(String s) {
        StringBuilder out = new StringBuilder(s.length());
        boolean previousIsLetter = false;
        for (char c : s.toCharArray()) {
            out.append(previousIsLetter ? Character.toLowerCase(c) : Character.toUpperCase(c));
            previousIsLetter = Character.isLetter(c);
        }
        return out.toString();
    }

    private static int count(String s, String sub) {
        if (sub.isEmpty()) return s.length() + 1;
        int n = 0;
        for (int at = s.indexOf(sub); at >= 0; at = s.indexOf(sub, at + sub.length())) n++;
        return n;
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
