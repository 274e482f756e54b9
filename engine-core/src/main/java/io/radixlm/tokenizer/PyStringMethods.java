package io.radixlm.tokenizer;

import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.function.Predicate;
import java.util.stream.Collectors;

/**
 * Python's str methods for Jinjava, which otherwise calls Java's: chat templates write
 * {@code content.startswith('x')}, {@code content.split('</think>')[-1].lstrip('\n')}, {@code s.strip('\n')}
 * and so on. Sits before Jinjava's own resolver and answers only method calls on strings it knows.
 */
final class PyStringMethods extends ELResolver {

    private static final Set<String> METHODS = Set.of("startswith", "endswith", "strip", "lstrip", "rstrip",
            "split", "upper", "lower", "title", "capitalize", "find", "count", "join", "replace");

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (!(base instanceof String s) || !(method instanceof String name) || !METHODS.contains(name)) return null;
        Object[] args = params == null ? new Object[0] : params;
        context.setPropertyResolved(true);
        return switch (name) {
            case "startswith" -> anyOf(args[0], s::startsWith);
            case "endswith" -> anyOf(args[0], s::endsWith);
            case "strip" -> strip(s, chars(args), true, true);
            case "lstrip" -> strip(s, chars(args), true, false);
            case "rstrip" -> strip(s, chars(args), false, true);
            case "split" -> split(s, chars(args));
            case "upper" -> s.toUpperCase(Locale.ROOT);
            case "lower" -> s.toLowerCase(Locale.ROOT);
            case "title" -> title(s);
            case "capitalize" -> s.isEmpty() ? s
                    : s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1).toLowerCase(Locale.ROOT);
            case "find" -> s.indexOf(String.valueOf(args[0]));
            case "count" -> count(s, String.valueOf(args[0]));
            case "join" -> join(s, args[0]);
            default -> s.replace(String.valueOf(args[0]), String.valueOf(args[1]));   // "replace"
        };
    }

    // Python accepts a tuple of prefixes/suffixes as well as one string.
    private static boolean anyOf(Object arg, Predicate<String> test) {
        if (arg instanceof Collection<?> options) return options.stream().anyMatch(o -> test.test(String.valueOf(o)));
        return test.test(String.valueOf(arg));
    }

    private static String chars(Object[] args) {
        return args.length == 0 || args[0] == null ? null : args[0].toString();
    }

    /** Python's strip family: whitespace without chars, else any of the given characters. */
    static String strip(String s, String chars, boolean left, boolean right) {
        int start = 0;
        int end = s.length();
        while (left && start < end && strippable(s.charAt(start), chars)) start++;
        while (right && end > start && strippable(s.charAt(end - 1), chars)) end--;
        return s.substring(start, end);
    }

    private static boolean strippable(char c, String chars) {
        return chars == null ? Character.isWhitespace(c) || Character.isSpaceChar(c) : chars.indexOf(c) >= 0;
    }

    private static List<String> split(String s, String sep) {
        if (sep == null) {
            String stripped = strip(s, null, true, true);
            return stripped.isEmpty() ? List.of() : Arrays.asList(stripped.split("[\\s\\u00a0\\u2000-\\u200a\\u3000]+"));
        }
        if (sep.isEmpty()) throw new IllegalArgumentException("empty separator");
        List<String> parts = new ArrayList<>();
        int from = 0;
        for (int at = s.indexOf(sep); at >= 0; at = s.indexOf(sep, from)) {
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

    private static String join(String separator, Object items) {
        if (!(items instanceof Collection<?> list)) return String.valueOf(items);
        return list.stream().map(String::valueOf).collect(Collectors.joining(separator));
    }

    // Property access is left to Jinjava's own resolver.
    @Override
    public Object getValue(ELContext context, Object base, Object property) { return null; }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) { return null; }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) { }

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) { return true; }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) { return null; }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) { return null; }
}
