package io.sac4j.load;

import io.sac4j.SacException;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small strict JSON reader (RFC 8259) for config.json, tokenizer.json and safetensors headers.
 * Objects become {@link LinkedHashMap} (key order kept), arrays {@link ArrayList}, numbers {@link Long} when integral
 * and in range else {@link Double}. Duplicate keys, nesting deeper than {@value #MAX_DEPTH}, trailing data and
 * malformed text are refused with a one-line {@link SacException} that names the source and the offset.
 */
public final class Json {
    public static final int MAX_DEPTH = 256;

    private final String s;
    private final String source;
    private int i;

    private Json(String text, String source) {
        this.s = text;
        this.source = source;
    }

    public static Object parse(String text, String source) {
        Json p = new Json(text, source);
        p.ws();
        Object v = p.value(0);
        p.ws();
        if (p.i != text.length()) throw p.error("unexpected data after the JSON value");
        return v;
    }

    /** Parses text that must be a JSON object. */
    @SuppressWarnings("unchecked")
    public static Map<String, Object> parseObject(String text, String source) {
        Object v = parse(text, source);
        if (!(v instanceof Map)) throw new SacException(source, "expected a JSON object at the top level");
        return (Map<String, Object>) v;
    }

    private SacException error(String what) {
        return new SacException(source, "invalid JSON at offset " + i + ": " + what);
    }

    private void ws() {
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c == ' ' || c == '\t' || c == '\n' || c == '\r') i++;
            else break;
        }
    }

    private Object value(int depth) {
        if (depth > MAX_DEPTH) throw error("nesting deeper than " + MAX_DEPTH);
        if (i >= s.length()) throw error("unexpected end of input");
        char c = s.charAt(i);
        switch (c) {
            case '{': return object(depth);
            case '[': return array(depth);
            case '"': return string();
            case 't': return literal("true", Boolean.TRUE);
            case 'f': return literal("false", Boolean.FALSE);
            case 'n': return literal("null", null);
            default:
                if (c == '-' || (c >= '0' && c <= '9')) return number();
                throw error("unexpected character '" + printable(c) + "'");
        }
    }

    private static String printable(char c) {
        return c < 0x20 || c > 0x7e ? String.format("\\u%04x", (int) c) : String.valueOf(c);
    }

    private Object literal(String word, Object v) {
        if (!s.startsWith(word, i)) throw error("expected " + word);
        i += word.length();
        return v;
    }

    private Map<String, Object> object(int depth) {
        Map<String, Object> m = new LinkedHashMap<>();
        i++;
        ws();
        if (i < s.length() && s.charAt(i) == '}') {
            i++;
            return m;
        }
        while (true) {
            ws();
            if (i >= s.length() || s.charAt(i) != '"') throw error("expected a string key");
            String k = string();
            ws();
            if (i >= s.length() || s.charAt(i) != ':') throw error("expected ':'");
            i++;
            ws();
            Object v = value(depth + 1);
            if (m.containsKey(k)) throw error("duplicate key \"" + k + "\"");
            m.put(k, v);
            ws();
            if (i >= s.length()) throw error("unexpected end of input in an object");
            char c = s.charAt(i++);
            if (c == '}') return m;
            if (c != ',') throw error("expected ',' or '}'");
        }
    }

    private List<Object> array(int depth) {
        List<Object> a = new ArrayList<>();
        i++;
        ws();
        if (i < s.length() && s.charAt(i) == ']') {
            i++;
            return a;
        }
        while (true) {
            ws();
            a.add(value(depth + 1));
            ws();
            if (i >= s.length()) throw error("unexpected end of input in an array");
            char c = s.charAt(i++);
            if (c == ']') return a;
            if (c != ',') throw error("expected ',' or ']'");
        }
    }

    private String string() {
        i++; // opening quote
        StringBuilder b = null;
        int start = i;
        while (true) {
            if (i >= s.length()) throw error("unterminated string");
            char c = s.charAt(i);
            if (c == '"') {
                String out = b == null ? s.substring(start, i) : b.append(s, start, i).toString();
                i++;
                return out;
            }
            if (c < 0x20) throw error("control character in a string");
            if (c == '\\') {
                if (b == null) b = new StringBuilder();
                b.append(s, start, i);
                if (i + 1 >= s.length()) throw error("unterminated escape");
                char e = s.charAt(i + 1);
                i += 2;
                switch (e) {
                    case '"' -> b.append('"');
                    case '\\' -> b.append('\\');
                    case '/' -> b.append('/');
                    case 'b' -> b.append('\b');
                    case 'f' -> b.append('\f');
                    case 'n' -> b.append('\n');
                    case 'r' -> b.append('\r');
                    case 't' -> b.append('\t');
                    case 'u' -> {
                        if (i + 4 > s.length()) throw error("short \\u escape");
                        int cp = 0;
                        for (int k = 0; k < 4; k++) {
                            int d = Character.digit(s.charAt(i + k), 16);
                            if (d < 0) throw error("bad \\u escape");
                            cp = cp * 16 + d;
                        }
                        i += 4;
                        b.append((char) cp);
                    }
                    default -> throw error("bad escape \\" + printable(e));
                }
                start = i;
            } else {
                i++;
            }
        }
    }

    private Object number() {
        int start = i;
        if (s.charAt(i) == '-') i++;
        int digits = i;
        while (i < s.length() && Character.isDigit(s.charAt(i))) i++;
        if (i == digits) throw error("bad number");
        if (s.charAt(digits) == '0' && i - digits > 1) throw error("leading zero in a number");
        boolean integral = true;
        if (i < s.length() && s.charAt(i) == '.') {
            integral = false;
            i++;
            int f = i;
            while (i < s.length() && Character.isDigit(s.charAt(i))) i++;
            if (i == f) throw error("bad number");
        }
        if (i < s.length() && (s.charAt(i) == 'e' || s.charAt(i) == 'E')) {
            integral = false;
            i++;
            if (i < s.length() && (s.charAt(i) == '+' || s.charAt(i) == '-')) i++;
            int e = i;
            while (i < s.length() && Character.isDigit(s.charAt(i))) i++;
            if (i == e) throw error("bad exponent");
        }
        String t = s.substring(start, i);
        if (integral && t.length() < 19) return Long.parseLong(t);
        return Double.parseDouble(t);
    }

    // ---- typed accessors used by the loaders: each failure names the source and the key ----

    public static Map<String, Object> obj(Map<String, Object> m, String key, String source) {
        Object v = m.get(key);
        if (v instanceof Map<?, ?> mm) {
            @SuppressWarnings("unchecked") Map<String, Object> r = (Map<String, Object>) mm;
            return r;
        }
        throw new SacException(source, "\"" + key + "\" must be an object");
    }

    public static long integer(Map<String, Object> m, String key, String source) {
        Object v = m.get(key);
        if (v instanceof Long l) return l;
        if (v == null) throw new SacException(source, "missing \"" + key + "\"");
        throw new SacException(source, "\"" + key + "\" must be an integer, got " + v);
    }

    public static long integer(Map<String, Object> m, String key, long dflt, String source) {
        return m.get(key) == null ? dflt : integer(m, key, source);
    }

    public static double number(Map<String, Object> m, String key, double dflt, String source) {
        Object v = m.get(key);
        if (v == null) return dflt;
        if (v instanceof Number n) return n.doubleValue();
        throw new SacException(source, "\"" + key + "\" must be a number, got " + v);
    }

    public static String string(Map<String, Object> m, String key, String dflt, String source) {
        Object v = m.get(key);
        if (v == null) return dflt;
        if (v instanceof String str) return str;
        throw new SacException(source, "\"" + key + "\" must be a string, got " + v);
    }
}
