package io.sac4j.compress;

import io.sac4j.SacException;
import io.sac4j.load.DType;

import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A safe reader of the pickle ({@code data.pkl}) inside a {@code torch.save} archive. It never executes anything: it
 * interprets only the opcodes a tensor state dict uses and only the globals {@code collections.OrderedDict},
 * {@code torch._utils._rebuild_tensor_v2} and {@code torch.{Float,Half,BFloat16}Storage}, and builds a plain
 * description of each tensor (storage key, dtype, offset, shape, stride). Any other global (os.system,
 * builtins.eval, torch.storage._load_from_bytes, ...), a REDUCE on anything but the two allowed callables, BUILD on
 * anything but an OrderedDict, or any other opcode is refused at once with a one-line {@link SacException} that
 * names the file and the offending global or opcode. Lengths are checked against the bytes that are left before
 * anything is allocated, so a hostile pickle costs at most about its own size in memory.
 */
final class PickleTensorReader {
    /** A tensor storage: archive entry {@code data/<key>}, holding {@code numel} elements of {@code type}. */
    record Storage(String key, DType type, long numel) {
    }

    /** What {@code _rebuild_tensor_v2} would build: a contiguous row-major view of a storage. */
    record TensorRef(Storage storage, long offset, long[] shape) {
        long elements() {
            long n = 1;
            for (long d : shape) n = Math.multiplyExact(n, d);
            return n;
        }
    }

    private record Global(String module, String name, DType storageType) {
        String qualified() {
            return module + "." + name;
        }
    }

    private record Tuple(List<Object> items) {
    }

    /** dict or collections.OrderedDict; only the latter may receive BUILD (its _metadata attribute). */
    private static final class Dict {
        final LinkedHashMap<Object, Object> map = new LinkedHashMap<>();
        final boolean ordered;

        Dict(boolean ordered) {
            this.ordered = ordered;
        }
    }

    private static final Object NONE = new Object();
    private static final Object MARK = new Object();
    private static final Global ORDERED_DICT = new Global("collections", "OrderedDict", null);
    private static final Global REBUILD_TENSOR = new Global("torch._utils", "_rebuild_tensor_v2", null);
    private static final Map<String, Global> ALLOWED = Map.of(
            "collections.OrderedDict", ORDERED_DICT,
            "torch._utils._rebuild_tensor_v2", REBUILD_TENSOR,
            "torch.FloatStorage", new Global("torch", "FloatStorage", DType.F32),
            "torch.HalfStorage", new Global("torch", "HalfStorage", DType.F16),
            "torch.BFloat16Storage", new Global("torch", "BFloat16Storage", DType.BF16));
    /** Module and attribute names are Python identifiers; longer lines are garbage, not a real global. */
    private static final int MAX_GLOBAL_LINE = 256;
    /**
     * Objects a pickle may create (pushes onto the stack). A state dict needs about 15 per tensor, so even a whole
     * 8B model (291 tensors) stays far below; the cap keeps a hostile pickle's memory to tens of megabytes.
     */
    static final int MAX_OBJECTS = 1_000_000;

    private final String src;
    private final byte[] b;
    private int pos;
    private int opAt;
    private final ArrayList<Object> stack = new ArrayList<>();
    private final ArrayList<Integer> marks = new ArrayList<>();
    private final HashMap<Long, Object> memo = new HashMap<>();
    private final Map<String, Storage> storages = new HashMap<>();
    private int created;

    private PickleTensorReader(String src, byte[] pickle) {
        this.src = src;
        this.b = pickle;
    }

    /**
     * Reads a pickled {@code {name: tensor}} dict (dict or OrderedDict) into tensor descriptions, in file order.
     *
     * @param src    what to name in errors (the archive path and the entry)
     * @param pickle the bytes of data.pkl
     */
    static LinkedHashMap<String, TensorRef> read(String src, byte[] pickle) {
        Object top = new PickleTensorReader(src, pickle).run();
        if (!(top instanceof Dict d))
            throw new SacException(src, "the pickle holds " + describe(top) + ", expected a dict of tensors");
        LinkedHashMap<String, TensorRef> out = new LinkedHashMap<>();
        for (Map.Entry<Object, Object> e : d.map.entrySet()) {
            if (!(e.getKey() instanceof String k))
                throw new SacException(src, "the state dict has a " + describe(e.getKey()) + " key, expected tensor names");
            if (!(e.getValue() instanceof TensorRef t))
                throw new SacException(src, "state dict entry " + k + " is " + describe(e.getValue()) + ", not a tensor");
            out.put(k, t);
        }
        return out;
    }

    private Object run() {
        while (true) {
            if (pos >= b.length) throw error("ends at byte " + pos + " without a STOP opcode (truncated)");
            opAt = pos;
            int op = b[pos++] & 0xff;
            switch (op) {
                case 0x80 -> { // PROTO
                    int v = u8();
                    if (v < 2 || v > 5) throw error("pickle protocol " + v + " is not supported (2 to 5)");
                }
                case 0x95 -> { // FRAME: a length hint for buffered reading; the data follows inline
                    long n = u64();
                    if (n < 0 || n > b.length - pos) throw error("FRAME of " + Long.toUnsignedString(n) + " bytes runs past the end");
                }
                case '}' -> push(new Dict(false)); // EMPTY_DICT
                case ']' -> push(new ArrayList<>()); // EMPTY_LIST
                case ')' -> push(new Tuple(List.of())); // EMPTY_TUPLE
                case '(' -> { // MARK
                    count();
                    marks.add(stack.size());
                    stack.add(MARK);
                }
                case 'X' -> push(utf8(u32())); // BINUNICODE
                case 0x8c -> push(utf8(u8())); // SHORT_BINUNICODE
                case 'q' -> memoPut(u8()); // BINPUT
                case 'r' -> memoPut(u32()); // LONG_BINPUT
                case 0x94 -> memoPut(memo.size()); // MEMOIZE
                case 'h' -> push(get(u8())); // BINGET
                case 'j' -> push(get(u32())); // LONG_BINGET
                case 'c' -> { // GLOBAL "module\nname\n"
                    String module = line(), name = line();
                    push(global(module, name));
                }
                case 0x93 -> { // STACK_GLOBAL
                    Object name = pop(), module = pop();
                    if (!(module instanceof String m) || !(name instanceof String n))
                        throw error("STACK_GLOBAL needs two strings, found " + describe(module) + " and " + describe(name));
                    push(global(m, n));
                }
                case 'J' -> push((long) s32()); // BININT
                case 'K' -> push((long) u8()); // BININT1
                case 'M' -> push((long) (u8() | u8() << 8)); // BININT2
                case 0x8a -> push(long1()); // LONG1
                case 0x88 -> push(Boolean.TRUE); // NEWTRUE
                case 0x89 -> push(Boolean.FALSE); // NEWFALSE
                case 'N' -> push(NONE);
                case 't' -> push(new Tuple(popToMark())); // TUPLE
                case 0x85 -> push(new Tuple(popN(1))); // TUPLE1
                case 0x86 -> push(new Tuple(popN(2))); // TUPLE2
                case 0x87 -> push(new Tuple(popN(3))); // TUPLE3
                case 'a' -> { // APPEND
                    Object v = pop();
                    list(peek(), "APPEND").add(v);
                }
                case 'e' -> { // APPENDS
                    List<Object> items = popToMark();
                    list(peek(), "APPENDS").addAll(items);
                }
                case 's' -> { // SETITEM
                    Object v = pop(), k = pop();
                    put(peek(), k, v, "SETITEM");
                }
                case 'u' -> { // SETITEMS
                    List<Object> kv = popToMark();
                    if (kv.size() % 2 != 0) throw error("SETITEMS with an odd number of items");
                    Object target = peek();
                    for (int i = 0; i < kv.size(); i += 2) put(target, kv.get(i), kv.get(i + 1), "SETITEMS");
                }
                case 'Q' -> push(persistentStorage(pop())); // BINPERSID
                case 'R' -> { // REDUCE
                    Object args = pop(), fn = pop();
                    push(reduce(fn, args));
                }
                case 'b' -> { // BUILD: only an OrderedDict's attributes (state_dict()'s _metadata), which we drop
                    Object state = pop();
                    Object target = peek();
                    if (!(target instanceof Dict d && d.ordered))
                        throw error("BUILD on " + describe(target) + " is not allowed (only on collections.OrderedDict)");
                    if (!(state instanceof Dict || state == NONE || state instanceof Tuple))
                        throw error("BUILD with " + describe(state) + " state is not allowed");
                }
                case '.' -> { // STOP
                    Object v = pop();
                    if (!stack.isEmpty()) throw error("STOP leaves " + stack.size() + " items on the stack");
                    return v;
                }
                default -> throw error("opcode " + opcodeName(op) + " is not allowed in a tensor state dict");
            }
        }
    }

    // ---- semantics of the allowed globals --------------------------------------------------------------------

    private Global global(String module, String name) {
        Global g = ALLOWED.get(module + "." + name);
        if (g == null)
            throw error("refused global " + printable(module) + "." + printable(name)
                    + " (only collections.OrderedDict, torch._utils._rebuild_tensor_v2 and torch Float/Half/BFloat16Storage are allowed)");
        return g;
    }

    private Object reduce(Object fn, Object args) {
        if (!(fn instanceof Global g))
            throw error("REDUCE on " + describe(fn) + " is not allowed");
        if (!(args instanceof Tuple t)) throw error("REDUCE on " + g.qualified() + " with " + describe(args) + " arguments");
        if (g == ORDERED_DICT) {
            if (!t.items().isEmpty()) throw error("collections.OrderedDict called with arguments");
            return new Dict(true);
        }
        if (g == REBUILD_TENSOR) return rebuildTensor(t.items());
        throw error("REDUCE on " + g.qualified() + " is not allowed (only collections.OrderedDict and torch._utils._rebuild_tensor_v2 may be called)");
    }

    /** Persistent id ("storage", StorageType, key, location, numel), as torch.save writes it. */
    private Storage persistentStorage(Object pid) {
        if (!(pid instanceof Tuple t) || t.items().size() != 5 || !"storage".equals(t.items().get(0)))
            throw error("persistent id " + describe(pid) + " is not a ('storage', type, key, location, numel) tuple");
        List<Object> p = t.items();
        if (!(p.get(1) instanceof Global g) || g.storageType() == null)
            throw error("persistent id names " + describe(p.get(1)) + ", not a storage type");
        if (!(p.get(2) instanceof String key) || !key.matches("[A-Za-z0-9_.]{1,64}") || key.startsWith("."))
            throw error("storage key " + describe(p.get(2)) + " is not a plain name");
        if (!(p.get(3) instanceof String)) throw error("storage location " + describe(p.get(3)) + " is not a string");
        if (!(p.get(4) instanceof Long numel) || numel < 0) throw error("storage " + key + " has element count " + describe(p.get(4)));
        Storage s = new Storage(key, g.storageType(), numel);
        Storage prev = storages.putIfAbsent(key, s);
        if (prev != null && !prev.equals(s))
            throw error("storage " + key + " is declared twice with different types or sizes");
        return s;
    }

    /** _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks[, metadata]). */
    private TensorRef rebuildTensor(List<Object> a) {
        if (a.size() != 6 && a.size() != 7)
            throw error("_rebuild_tensor_v2 called with " + a.size() + " arguments, expected 6 or 7");
        if (!(a.get(0) instanceof Storage s)) throw error("_rebuild_tensor_v2 on " + describe(a.get(0)) + ", not a storage");
        if (!(a.get(1) instanceof Long offset) || offset < 0) throw error("tensor storage offset " + describe(a.get(1)));
        long[] shape = longs(a.get(2), "size"), stride = longs(a.get(3), "stride");
        if (shape.length != stride.length)
            throw error("tensor size " + Arrays.toString(shape) + " and stride " + Arrays.toString(stride) + " differ in length");
        if (!(a.get(4) instanceof Boolean)) throw error("requires_grad is " + describe(a.get(4)) + ", not a bool");
        if (!(a.get(5) instanceof Dict hooks) || !hooks.map.isEmpty())
            throw error("tensor backward hooks must be an empty OrderedDict");
        if (a.size() == 7 && !(a.get(6) instanceof Dict)) throw error("tensor metadata is " + describe(a.get(6)) + ", not a dict");
        // contiguous row-major: each stride is the product of the sizes after it (free where the size is 1)
        long expect = 1, elements = 1;
        try {
            for (int i = shape.length - 1; i >= 0; i--) {
                if (shape[i] != 1 && stride[i] != expect)
                    throw error("tensor with size " + Arrays.toString(shape) + " and stride " + Arrays.toString(stride)
                            + " is not contiguous (save it with .contiguous())");
                expect = Math.multiplyExact(expect, shape[i]);
            }
            elements = expect;
            if (Math.addExact(offset, elements) > s.numel())
                throw error("tensor of size " + Arrays.toString(shape) + " at offset " + offset
                        + " runs past the end of storage " + s.key() + " (" + s.numel() + " elements)");
        } catch (ArithmeticException e) {
            throw error("tensor size " + Arrays.toString(shape) + " is too large");
        }
        return new TensorRef(s, offset, shape);
    }

    private long[] longs(Object v, String what) {
        if (!(v instanceof Tuple t)) throw error("tensor " + what + " is " + describe(v) + ", not a tuple");
        if (t.items().size() > 8) throw error("tensor " + what + " has " + t.items().size() + " dimensions");
        long[] out = new long[t.items().size()];
        for (int i = 0; i < out.length; i++) {
            if (!(t.items().get(i) instanceof Long l) || l < 0) throw error("tensor " + what + " holds " + describe(t.items().get(i)));
            out[i] = l;
        }
        return out;
    }

    // ---- stack and containers ----------------------------------------------------------------------------------

    /** Counts every stack push and memo entry against {@link #MAX_OBJECTS}. */
    private void count() {
        if (++created > MAX_OBJECTS)
            throw error("builds more than " + MAX_OBJECTS + " objects; a tensor state dict needs far fewer");
    }

    private void push(Object v) {
        count();
        stack.add(v);
    }

    private void memoPut(long index) {
        count();
        memo.put(index, peek());
    }

    private Object pop() {
        if (stack.isEmpty()) throw error("stack underflow");
        Object v = stack.removeLast();
        if (v == MARK) throw error("unexpected MARK on the stack");
        return v;
    }

    private Object peek() {
        if (stack.isEmpty() || stack.getLast() == MARK) throw error("stack underflow");
        return stack.getLast();
    }

    private List<Object> popN(int n) {
        if (stack.size() < n) throw error("stack underflow");
        List<Object> items = new ArrayList<>(stack.subList(stack.size() - n, stack.size()));
        if (items.contains(MARK)) throw error("unexpected MARK on the stack");
        stack.subList(stack.size() - n, stack.size()).clear();
        return items;
    }

    private List<Object> popToMark() {
        if (marks.isEmpty()) throw error("no MARK to pop to");
        int at = marks.removeLast();
        List<Object> items = new ArrayList<>(stack.subList(at + 1, stack.size()));
        stack.subList(at, stack.size()).clear();
        return items;
    }

    private Object get(long index) {
        Object v = memo.get(index);
        if (v == null) throw error("memo slot " + index + " was never set");
        return v;
    }

    @SuppressWarnings("unchecked")
    private List<Object> list(Object target, String op) {
        if (!(target instanceof ArrayList<?> l)) throw error(op + " on " + describe(target));
        return (List<Object>) l;
    }

    private void put(Object target, Object k, Object v, String op) {
        if (!(target instanceof Dict d)) throw error(op + " on " + describe(target));
        if (!(k instanceof String || k instanceof Long || k instanceof Boolean))
            throw error(op + " with a " + describe(k) + " key");
        d.map.put(k, v);
    }

    // ---- raw reads, each checked against the bytes left ------------------------------------------------------

    private void need(long n) {
        if (n > b.length - pos)
            throw error("needs " + n + " bytes at offset " + pos + " but data.pkl has only " + (b.length - pos) + " left (truncated or corrupt)");
    }

    private int u8() {
        need(1);
        return b[pos++] & 0xff;
    }

    private int s32() {
        need(4);
        int v = (b[pos] & 0xff) | (b[pos + 1] & 0xff) << 8 | (b[pos + 2] & 0xff) << 16 | (b[pos + 3] & 0xff) << 24;
        pos += 4;
        return v;
    }

    private long u32() {
        return s32() & 0xffffffffL;
    }

    private long u64() {
        long lo = u32(), hi = u32();
        return hi << 32 | lo;
    }

    private long long1() {
        int n = u8();
        if (n > 8) throw error("integer of " + n + " bytes is too large");
        need(n);
        long v = 0;
        for (int i = 0; i < n; i++) v |= (long) (b[pos + i] & 0xff) << (8 * i);
        if (n > 0 && n < 8 && (b[pos + n - 1] & 0x80) != 0) v |= -1L << (8 * n); // sign-extend
        pos += n;
        return v;
    }

    private String utf8(long n) {
        need(n);
        try {
            String s = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(java.nio.ByteBuffer.wrap(b, pos, (int) n)).toString();
            pos += (int) n;
            return s;
        } catch (CharacterCodingException e) {
            throw error("string is not valid UTF-8");
        }
    }

    /** A GLOBAL operand line: printable ASCII up to '\n'. */
    private String line() {
        int start = pos;
        while (pos < b.length && b[pos] != '\n') {
            if (b[pos] < 0x20 || b[pos] > 0x7e || pos - start >= MAX_GLOBAL_LINE) throw error("GLOBAL name is not a plain identifier");
            pos++;
        }
        if (pos >= b.length) throw error("GLOBAL name runs past the end");
        return new String(b, start, pos++ - start, StandardCharsets.US_ASCII);
    }

    // ---- messages ----------------------------------------------------------------------------------------------

    private SacException error(String what) {
        return new SacException(src, what + " (data.pkl offset " + opAt + ")");
    }

    private static String printable(String s) {
        String t = s.replaceAll("[^A-Za-z0-9_.]", "?");
        return t.length() > 80 ? t.substring(0, 80) + "..." : t;
    }

    /** A short type description, never the content: nested structures can be huge or self-referencing. */
    private static String describe(Object v) {
        if (v == null) return "nothing";
        if (v == NONE) return "None";
        if (v == MARK) return "a MARK";
        if (v instanceof String s) return "string '" + printable(s) + "'";
        if (v instanceof Long l) return "integer " + l;
        if (v instanceof Boolean x) return x ? "True" : "False";
        if (v instanceof Tuple t) return "a " + t.items().size() + "-tuple";
        if (v instanceof List<?>) return "a list";
        if (v instanceof Dict d) return d.ordered ? "an OrderedDict" : "a dict";
        if (v instanceof Global g) return g.qualified();
        if (v instanceof Storage s) return "storage " + s.key();
        if (v instanceof TensorRef) return "a tensor";
        return v.getClass().getSimpleName();
    }

    private static final Map<Integer, String> OPCODE_NAMES = Map.ofEntries(
            Map.entry((int) 'i', "INST"), Map.entry((int) 'o', "OBJ"), Map.entry(0x81, "NEWOBJ"), Map.entry(0x92, "NEWOBJ_EX"),
            Map.entry((int) 'S', "STRING"), Map.entry((int) 'T', "BINSTRING"), Map.entry((int) 'U', "SHORT_BINSTRING"),
            Map.entry((int) 'V', "UNICODE"), Map.entry((int) 'B', "BINBYTES"), Map.entry((int) 'C', "SHORT_BINBYTES"),
            Map.entry(0x8e, "BINBYTES8"), Map.entry(0x8d, "BINUNICODE8"), Map.entry(0x96, "BYTEARRAY8"),
            Map.entry((int) 'P', "PERSID"), Map.entry((int) 'I', "INT"), Map.entry((int) 'L', "LONG"),
            Map.entry(0x8b, "LONG4"), Map.entry((int) 'F', "FLOAT"), Map.entry((int) 'G', "BINFLOAT"),
            Map.entry((int) 'd', "DICT"), Map.entry((int) 'l', "LIST"), Map.entry((int) 'p', "PUT"), Map.entry((int) 'g', "GET"),
            Map.entry(0x82, "EXT1"), Map.entry(0x83, "EXT2"), Map.entry(0x84, "EXT4"), Map.entry(0x8f, "EMPTY_SET"),
            Map.entry(0x90, "ADDITEMS"), Map.entry(0x91, "FROZENSET"), Map.entry(0x97, "NEXT_BUFFER"),
            Map.entry(0x98, "READONLY_BUFFER"), Map.entry((int) '0', "POP"), Map.entry((int) '2', "DUP"),
            Map.entry((int) '1', "POP_MARK"));

    private static String opcodeName(int op) {
        String hex = String.format("0x%02x", op);
        String name = OPCODE_NAMES.get(op);
        if (name == null) return hex + " (unknown)";
        return hex + " (" + name + ")";
    }
}
