//! Pickle tests. Golden bytes come from CPython 3.11.7 (`python3` on the build machine); each
//! constant says how it was made.

use super::*;

fn unhex(text: &str) -> Vec<u8> {
    let text: String = text.split_whitespace().collect();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn encode_with(value: &Value, protocol: u8) -> Result<Vec<u8>, SerializeError> {
    let mut wire = BytesMut::new();
    PickleSerializer::new()
        .with_protocol(protocol)
        .unwrap()
        .serialize(value, &mut wire)?;
    Ok(wire.to_vec())
}

fn encode(value: &Value, protocol: u8) -> Vec<u8> {
    encode_with(value, protocol).unwrap()
}

fn decode(data: &[u8]) -> Result<Value, DeserializeError> {
    PickleSerializer::new().deserialize(data)
}

fn kind(data: &[u8]) -> DeserializeErrorKind {
    decode(data).unwrap_err().kind()
}

fn message(data: &[u8]) -> String {
    decode(data).unwrap_err().to_string()
}

fn s(text: &str) -> Value {
    Value::Str(text.to_owned())
}

fn b(bytes: &[u8]) -> Value {
    Value::Bytes(bytes.to_vec())
}

fn i(n: i128) -> Value {
    Value::Int(n)
}

fn list(items: Vec<Value>) -> Value {
    Value::List(items)
}

fn map(entries: Vec<(Value, Value)>) -> Value {
    Value::Map(entries)
}

fn ints(items: &[i128]) -> Value {
    list(items.iter().copied().map(i).collect())
}

/// CRC-32 (zlib's), to compare long outputs with Python's `zlib.crc32`.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

// The nested sample, made with:
//
//   x = [1, 2]
//   def sample(p):
//       s = {"ints": [0, 255, 256, 65536, -1, 2**40, -2**70], "float": 1.5,
//            "text": ["", "é€😀", "a\\b\n"], "none": None, "flags": [True, False],
//            "tuple": ((), (1,), (2, 3), (4, 5, 6), (7, 8, 9, 10)), "shared": [x, x],
//            "keys": {(1, "k"): {"a": []}, 2.5: 0}}
//       if p >= 3: s["bytes"] = [b"", b"ab"]
//       if p >= 4: s["long"] = ["x" * 256, b"y" * 256]
//       if p >= 5: s["bytearray"] = bytearray(b"ba")
//       return s
//   pickle.dumps(sample(p), p).hex()
//
// Opcodes (pickletools): protocol 0: MARK DICT PUT UNICODE LIST INT APPEND LONG SETITEM FLOAT
// NONE TUPLE GET STOP; protocol 1 adds EMPTY_DICT BINPUT BINUNICODE EMPTY_LIST BININT1 BININT2
// BININT APPENDS BINFLOAT EMPTY_TUPLE BINGET SETITEMS; protocol 2 adds PROTO LONG1 NEWTRUE
// NEWFALSE TUPLE1 TUPLE2 TUPLE3; protocol 4 adds FRAME MEMOIZE SHORT_BINUNICODE SHORT_BINBYTES
// BINBYTES; protocol 5 adds BYTEARRAY8.

const SAMPLE_P0: &str = "\
286470300a56696e74730a70310a286c70320a49300a61493235350a61493235360a614936353533360a61492d310a\
614c313039393531313632373737364c0a614c2d313138303539313632303731373431313330333432344c0a617356\
666c6f61740a70330a46312e350a7356746578740a70340a286c70350a560a70360a6156e95c75323061635c553030\
3031663630300a70370a6156615c7530303563625c75303030610a70380a6173566e6f6e650a70390a4e7356666c61\
67730a7031300a286c7031310a4930310a614930300a6173567475706c650a7031320a2828742849310a747031330a\
2849320a49330a747031340a2849340a49350a49360a747031350a2849370a49380a49390a4931300a747031360a74\
7031370a73567368617265640a7031380a286c7031390a286c7032300a49310a6149320a61616732300a6173566b65\
79730a7032310a28647032320a2849310a566b0a7032330a747032340a28647032350a56610a7032360a286c703237\
0a737346322e350a49300a73732e";

const SAMPLE_P1: &str = "\
7d7100285804000000696e747371015d7102284b004bff4d00014a000001004affffffff4c31303939353131363237\
3737364c0a4c2d313138303539313632303731373431313330333432344c0a655805000000666c6f61747103473ff8\
00000000000058040000007465787471045d710528580000000071065809000000c3a9e282acf09f98807107580400\
0000615c620a71086558040000006e6f6e6571094e5805000000666c616773710a5d710b284930310a4930300a6558\
050000007475706c65710c2829284b0174710d284b024b0374710e284b044b054b0674710f284b074b084b094b0a74\
7110747111580600000073686172656471125d7113285d7114284b014b026568146558040000006b65797371157d71\
1628284b0158010000006b71177471187d7119580100000061711a5d711b734740040000000000004b0075752e";

const SAMPLE_P2: &str = "\
80027d7100285804000000696e747371015d7102284b004bff4d00014a000001004affffffff8a060000000000018a\
090000000000000000c0655805000000666c6f61747103473ff800000000000058040000007465787471045d710528\
580000000071065809000000c3a9e282acf09f988071075804000000615c620a71086558040000006e6f6e6571094e\
5805000000666c616773710a5d710b2888896558050000007475706c65710c28294b0185710d4b024b0386710e4b04\
4b054b0687710f284b074b084b094b0a747110747111580600000073686172656471125d7113285d7114284b014b02\
6568146558040000006b65797371157d7116284b0158010000006b71178671187d7119580100000061711a5d711b73\
4740040000000000004b0075752e";

const SAMPLE_P4_HEAD: &str = "\
8004950e030000000000007d94288c04696e7473945d94284b004bff4d00014a000001004affffffff8a0600000000\
00018a090000000000000000c0658c05666c6f617494473ff80000000000008c0474657874945d94288c00948c09c3\
a9e282acf09f9880948c04615c620a94658c046e6f6e65944e8c05666c616773945d94288889658c057475706c6594\
28294b0185944b024b0386944b044b054b068794284b074b084b094b0a749474948c06736861726564945d94285d94\
284b014b02656814658c046b657973947d94284b018c016b9486947d948c0161945d94734740040000000000004b00\
758c056279746573945d94284300944302616294658c046c6f6e67945d9428580001000078";

const SAMPLE_P5_HEAD: &str = "\
80059526030000000000007d94288c04696e7473945d94284b004bff4d00014a000001004affffffff8a0600000000\
00018a090000000000000000c0658c05666c6f617494473ff80000000000008c0474657874945d94288c00948c09c3\
a9e282acf09f9880948c04615c620a94658c046e6f6e65944e8c05666c616773945d94288889658c057475706c6594\
28294b0185944b024b0386944b044b054b068794284b074b084b094b0a749474948c06736861726564945d94285d94\
284b014b02656814658c046b657973947d94284b018c016b9486947d948c0161945d94734740040000000000004b00\
758c056279746573945d94284300944302616294658c046c6f6e67945d9428580001000078";

/// Protocols 4 and 5 go on with 255 more `x`, then `94 42 00 01 00 00`, 256 `y`, then this.
fn sample_p45(head: &str, tail: &str) -> Vec<u8> {
    let mut data = unhex(head);
    data.extend_from_slice(&[b'x'; 255]);
    data.extend_from_slice(&unhex("944200010000"));
    data.extend_from_slice(&[b'y'; 256]);
    data.extend_from_slice(&unhex(tail));
    data
}

fn sample_p4() -> Vec<u8> {
    sample_p45(SAMPLE_P4_HEAD, "9465752e")
}

fn sample_p5() -> Vec<u8> {
    sample_p45(
        SAMPLE_P5_HEAD,
        "94658c0962797465617272617994960200000000000000626194752e",
    )
}

/// What the sample decodes to: tuples are lists, `bytearray` is bytes.
fn sample(protocol: u8) -> Value {
    let pair = ints(&[1, 2]);
    let mut entries = vec![
        (
            s("ints"),
            ints(&[0, 255, 256, 65536, -1, 1 << 40, -(1 << 70)]),
        ),
        (s("float"), Value::Float(1.5)),
        (s("text"), list(vec![s(""), s("é€😀"), s("a\\b\n")])),
        (s("none"), Value::Null),
        (
            s("flags"),
            list(vec![Value::Bool(true), Value::Bool(false)]),
        ),
        (
            s("tuple"),
            list(vec![
                ints(&[]),
                ints(&[1]),
                ints(&[2, 3]),
                ints(&[4, 5, 6]),
                ints(&[7, 8, 9, 10]),
            ]),
        ),
        (s("shared"), list(vec![pair.clone(), pair])),
        (
            s("keys"),
            map(vec![
                (list(vec![i(1), s("k")]), map(vec![(s("a"), list(vec![]))])),
                (Value::Float(2.5), i(0)),
            ]),
        ),
    ];
    if protocol >= 3 {
        entries.push((s("bytes"), list(vec![b(b""), b(b"ab")])));
    }
    if protocol >= 4 {
        entries.push((s("long"), list(vec![s(&"x".repeat(256)), b(&[b'y'; 256])])));
    }
    if protocol >= 5 {
        entries.push((s("bytearray"), b(b"ba")));
    }
    map(entries)
}

#[test]
fn decodes_python_output_of_protocols_0_to_5() {
    assert_eq!(decode(&unhex(SAMPLE_P0)).unwrap(), sample(0));
    assert_eq!(decode(&unhex(SAMPLE_P1)).unwrap(), sample(1));
    assert_eq!(decode(&unhex(SAMPLE_P2)).unwrap(), sample(2));
    assert_eq!(decode(&sample_p4()).unwrap(), sample(4));
    assert_eq!(decode(&sample_p5()).unwrap(), sample(5));
}

/// The opcodes CPython 3 never writes for plain data, verified with
/// `pickle.loads(data, encoding="utf-8")` == `[32767, 'hi', b'z', 'aA\n', 'ok', 'no', 7, 7, []]`:
/// PROTO 2, MARK, LONG4 32767, BINUNICODE8 'hi', BINBYTES8 b'z', STRING 'a\x41\n',
/// BINSTRING 'ok', SHORT_BINSTRING 'no', BININT1 7, DUP, NONE, POP, MARK, BININT1 9, POP_MARK,
/// EMPTY_LIST, LONG_BINPUT 65536, POP, LONG_BINGET 65536, LIST, STOP.
const HAND_MADE: &str = "\
8002288b02000000ff7f8d020000000000000068698e01000000000000007a5327615c7834315c6e270a5402000000\
6f6b55026e6f4b07324e30284b09315d7200000100306a000001006c2e";

#[test]
fn decodes_the_rarer_opcodes() {
    assert_eq!(
        decode(&unhex(HAND_MADE)).unwrap(),
        list(vec![
            i(32767),
            s("hi"),
            b(b"z"),
            s("aA\n"),
            s("ok"),
            s("no"),
            i(7),
            i(7),
            list(vec![])
        ])
    );
}

/// `full`, made with:
///
///   full = {"ints": [0, 255, 256, 65535, 65536, -1, -2**31, 2**31, 2**40, -2**70, 2**127-1,
///                    -2**127], "float": [1.5, -0.0, float("inf")], "text": ["", "é€😀", "a\\b\n"],
///           "none": None, "flags": [True, False],
///           "keys": {(1, "k"): {"a": []}, 2.5: 0, ((), ("a", ("b",)), 1, 2): 1},
///           "one": [1], "empty": {}}
///   pickle.dumps(full, 2).hex()
///   full["bytes"] = [b"", b"ab"]; full["long"] = ["x"*256, b"y"*256]
///   pickle.dumps(full, 4).hex(); len(pickle.dumps(full, p)), zlib.crc32(pickle.dumps(full, p))
fn full(with_bytes: bool) -> Value {
    let mut entries = vec![
        (
            s("ints"),
            ints(&[
                0,
                255,
                256,
                65535,
                65536,
                -1,
                -(1 << 31),
                1 << 31,
                1 << 40,
                -(1 << 70),
                i128::MAX,
                i128::MIN,
            ]),
        ),
        (
            s("float"),
            list(vec![
                Value::Float(1.5),
                Value::Float(-0.0),
                Value::Float(f64::INFINITY),
            ]),
        ),
        (s("text"), list(vec![s(""), s("é€😀"), s("a\\b\n")])),
        (s("none"), Value::Null),
        (
            s("flags"),
            list(vec![Value::Bool(true), Value::Bool(false)]),
        ),
        (
            s("keys"),
            map(vec![
                (list(vec![i(1), s("k")]), map(vec![(s("a"), list(vec![]))])),
                (Value::Float(2.5), i(0)),
                (
                    list(vec![
                        list(vec![]),
                        list(vec![s("a"), list(vec![s("b")])]),
                        i(1),
                        i(2),
                    ]),
                    i(1),
                ),
            ]),
        ),
        (s("one"), ints(&[1])),
        (s("empty"), map(vec![])),
    ];
    if with_bytes {
        entries.push((s("bytes"), list(vec![b(b""), b(b"ab")])));
        entries.push((s("long"), list(vec![s(&"x".repeat(256)), b(&[b'y'; 256])])));
    }
    map(entries)
}

const FULL_P2: &str = "\
80027d7100285804000000696e747371015d7102284b004bff4d00014dffff4a000001004affffffff4a000000808a\
0500000080008a060000000000018a090000000000000000c08a10ffffffffffffffffffffffffffffff7f8a100000\
0000000000000000000000000080655805000000666c6f617471035d710428473ff800000000000047800000000000\
0000477ff00000000000006558040000007465787471055d710628580000000071075809000000c3a9e282acf09f98\
8071085804000000615c620a71096558040000006e6f6e65710a4e5805000000666c616773710b5d710c2888896558\
040000006b657973710d7d710e284b0158010000006b710f8671107d711158010000006171125d7113734740040000\
000000004b002829681258010000006271148571158671164b014b027471174b017558030000006f6e6571185d7119\
4b01615805000000656d707479711a7d711b752e";

const FULL_P4_HEAD: &str = "\
80049540030000000000007d94288c04696e7473945d94284b004bff4d00014dffff4a000001004affffffff4a0000\
00808a0500000080008a060000000000018a090000000000000000c08a10ffffffffffffffffffffffffffffff7f8a\
1000000000000000000000000000000080658c05666c6f6174945d9428473ff8000000000000478000000000000000\
477ff0000000000000658c0474657874945d94288c00948c09c3a9e282acf09f9880948c04615c620a94658c046e6f\
6e65944e8c05666c616773945d94288889658c046b657973947d94284b018c016b9486947d948c0161945d94734740\
040000000000004b00282968128c016294859486944b014b0274944b01758c036f6e65945d944b01618c05656d7074\
79947d948c056279746573945d94284300944302616294658c046c6f6e67945d9428580001000078";

#[test]
fn encodes_like_python() {
    assert_eq!(encode(&full(false), 2), unhex(FULL_P2));
    let p4 = encode(&full(true), 4);
    assert_eq!(p4, sample_p45(FULL_P4_HEAD, "9465752e"));
    let p3 = encode(&full(true), 3);
    assert_eq!((p3.len(), crc32(&p3)), (918, 593_633_019));
    let p5 = encode(&full(true), 5);
    assert_eq!((p5.len(), crc32(&p5)), (843, 2_855_768_497));
    // Every protocol reads back.
    for protocol in 2..=5 {
        let with_bytes = protocol >= 3;
        let value = full(with_bytes);
        assert_eq!(
            decode(&encode(&value, protocol)).unwrap(),
            value,
            "protocol {protocol}"
        );
    }
}

/// `pickle.dumps({"data": 42}, 4)`: EasyNetwork's Base64(Pickle) example decodes to this.
#[test]
fn easynetwork_example() {
    let value = map(vec![(s("data"), i(42))]);
    assert_eq!(
        encode(&value, 4),
        unhex("8004950d000000000000007d948c0464617461944b2a732e")
    );
}

/// Lengths and CRC-32s of `pickle.dumps(value, p)`: FRAME boundaries, large strings outside
/// frames, APPENDS/SETITEMS batches of 1000 (and CPython's empty batch after a full one).
#[test]
fn frames_and_batches_match_python() {
    let range = |n: i128| list((0..n).map(i).collect());
    let cases: Vec<(&str, Value, u8, usize, u32)> = vec![
        // list(range(100000)), 4
        (
            "list(range(100000))",
            range(100_000),
            4,
            368_931,
            1_103_614_888,
        ),
        // {i: "v%d" % i for i in range(20000)}, 4
        (
            "dict of 20000",
            map((0..20_000).map(|n| (i(n), s(&format!("v{n}")))).collect()),
            4,
            228_717,
            809_766_364,
        ),
        // ["x"*70000, 1, "y"*10, b"z"*65536, [1]*5], 4
        (
            "large strings",
            list(vec![
                s(&"x".repeat(70_000)),
                i(1),
                s(&"y".repeat(10)),
                b(&[b'z'; 65_536]),
                ints(&[1; 5]),
            ]),
            4,
            135_602,
            2_281_340_263,
        ),
        // list(range(2001)), 2
        ("list(range(2001))", range(2001), 2, 5759, 524_982_884),
        // {i: i for i in range(2000)}, 3
        (
            "dict of 2000",
            map((0..2000).map(|n| (i(n), i(n))).collect()),
            3,
            11_500,
            472_848_043,
        ),
        // ["é"*40000, b"q"*70000], 5
        (
            "large, protocol 5",
            list(vec![s(&"é".repeat(40_000)), b(&[b'q'; 70_000])]),
            5,
            150_019,
            3_565_096_251,
        ),
    ];
    for (name, value, protocol, len, crc) in cases {
        let data = encode(&value, protocol);
        assert_eq!((data.len(), crc32(&data)), (len, crc), "{name}");
        assert_eq!(decode(&data).unwrap(), value, "{name}");
    }
}

/// `pickle.dumps(["a", "a", "é", "é", "", "", b"", b"", b"z", b"z"], 4)`: CPython's
/// singletons are written once, then fetched from the memo.
#[test]
fn python_singletons_are_memo_references() {
    let value = list(vec![
        s("a"),
        s("a"),
        s("é"),
        s("é"),
        s(""),
        s(""),
        b(b""),
        b(b""),
        b(b"z"),
        b(b"z"),
    ]);
    let expected = "80049522000000000000005d94288c01619468018c02c3a99468028c009468034300946804\
                    43017a946805652e";
    assert_eq!(encode(&value, 4), unhex(expected));
    // Longer strings are not shared: written twice.
    let twice = encode(&list(vec![s("ab"), s("ab")]), 4);
    assert_eq!(
        twice,
        unhex("8004950f000000000000005d94288c026162948c02616294652e")
    );
}

#[test]
fn protocol_2_bytes_use_protocol_3_opcodes() {
    // Python writes `_codecs.encode(...)` here; every Python 3 reads SHORT_BINBYTES.
    assert_eq!(encode(&b(b"ab"), 2), unhex("8002430261627100 2e"));
    assert_eq!(encode(&b(b"ab"), 3), unhex("8003430261627100 2e"));
}

#[test]
fn round_trips() {
    let values = vec![
        Value::Null,
        Value::Bool(true),
        i(0),
        i(-129),
        i(1 << 100),
        i(i128::MIN),
        Value::Float(-1e-300),
        s("naïve ☃"),
        b(&[0, 255, 10]),
        list(vec![]),
        map(vec![]),
        list((0..2500).map(|n| s(&n.to_string())).collect()),
        map((0..2500)
            .map(|n| (b(&n.to_string().into_bytes()), list(vec![i(n)])))
            .collect()),
        map(vec![
            (list(vec![list(vec![i(1)]), Value::Null]), i(1)),
            (Value::Null, i(2)),
        ]),
    ];
    for protocol in 2..=5 {
        for value in &values {
            assert_eq!(
                &decode(&encode(value, protocol)).unwrap(),
                value,
                "protocol {protocol}"
            );
        }
    }
    let nan = decode(&encode(&Value::Float(f64::NAN), 4)).unwrap();
    assert!(matches!(nan, Value::Float(x) if x.is_nan()));
}

#[test]
fn protocol_range() {
    assert_eq!(PickleSerializer::new().protocol(), 4);
    assert_eq!(PickleSerializer::default(), PickleSerializer::new());
    assert!(PickleSerializer::new().with_protocol(1).is_err());
    assert!(PickleSerializer::new().with_protocol(6).is_err());
    for p in 2..=5 {
        assert_eq!(
            PickleSerializer::new().with_protocol(p).unwrap().protocol(),
            p
        );
    }
}

#[test]
fn encode_errors_leave_the_buffer_alone() {
    let bad = map(vec![(map(vec![]), i(1))]);
    let mut wire = BytesMut::from(&b"keep"[..]);
    assert!(PickleSerializer::new().serialize(&bad, &mut wire).is_err());
    assert_eq!(&wire[..], b"keep");
}

#[test]
fn refuses_code_and_objects() {
    for (code, name) in [
        (b'c', "GLOBAL"),
        (0x93, "STACK_GLOBAL"),
        (b'R', "REDUCE"),
        (b'b', "BUILD"),
        (b'i', "INST"),
        (b'o', "OBJ"),
        (0x81, "NEWOBJ"),
        (0x92, "NEWOBJ_EX"),
        (0x82, "EXT1"),
        (0x83, "EXT2"),
        (0x84, "EXT4"),
        (b'P', "PERSID"),
        (b'Q', "BINPERSID"),
        (0x8f, "EMPTY_SET"),
        (0x90, "ADDITEMS"),
        (0x91, "FROZENSET"),
        (0x97, "NEXT_BUFFER"),
        (0x98, "READONLY_BUFFER"),
    ] {
        let data = [0x80, 4, code, b'.'];
        let err = decode(&data).unwrap_err();
        assert_eq!(err.kind(), DeserializeErrorKind::Invalid);
        assert_eq!(
            err.message(),
            format!("unsupported pickle opcode {name}: only plain data is accepted")
        );
    }
    // pickle.dumps({1, 2}, 4) and pickle.dumps(datetime.date(2020, 1, 2), 4)
    assert!(message(&unhex("80049509000000000000008f94284b014b02902e")).contains("EMPTY_SET"));
    let date = "80049520000000000000008c086461746574696d65948c0464617465949394430407e401029485\
                9452942e";
    assert!(message(&unhex(date)).contains("STACK_GLOBAL"));
    // pickle.dumps(datetime.date(2020, 1, 2), 0)
    assert!(message(b"cdatetime\ndate\np0\n(c_codecs\nencode\np1\n(V\x07\xe4\x01\x02\np2\nVlatin1\np3\ntp4\nRp5\ntp6\nRp7\n.")
        .contains("GLOBAL"));
    assert_eq!(message(b"\xff."), "invalid pickle opcode 0xff");
}

#[test]
fn every_prefix_is_incomplete() {
    let goldens = [
        unhex(SAMPLE_P0),
        unhex(SAMPLE_P1),
        unhex(SAMPLE_P2),
        sample_p4(),
        sample_p5(),
        unhex(HAND_MADE),
    ];
    for data in &goldens {
        for n in 0..data.len() {
            let err = decode(&data[..n]).unwrap_err();
            assert_eq!(
                err.kind(),
                DeserializeErrorKind::Incomplete,
                "prefix {n}: {err}"
            );
        }
    }
}

#[test]
fn bytes_after_stop_are_trailing_data() {
    let mut data = unhex(SAMPLE_P2);
    data.push(b'N');
    assert_eq!(kind(&data), DeserializeErrorKind::TrailingData);
}

#[test]
fn mutated_input_never_panics() {
    for data in [
        unhex(SAMPLE_P2),
        sample_p4(),
        unhex(HAND_MADE),
        unhex(SAMPLE_P0),
    ] {
        for at in 0..data.len() {
            for byte in [
                0x00, 0x01, 0x28, 0x2e, 0x30, 0x61, 0x68, 0x7f, 0x80, 0x94, 0xff,
            ] {
                let mut mutated = data.clone();
                mutated[at] = byte;
                let _ = decode(&mutated);
                let _ = decode(&mutated[..at]);
            }
        }
    }
}

#[test]
fn announced_lengths_are_not_trusted() {
    // BINUNICODE8 / BINBYTES8 / BYTEARRAY8 of 2^64 - 1 bytes, FRAME of 2^63 bytes.
    for code in [0x8d, 0x8e, 0x96, 0x95] {
        let mut data = vec![0x80, 5, code];
        data.extend_from_slice(&u64::MAX.to_le_bytes());
        data.extend_from_slice(b"abc.");
        assert_eq!(kind(&data), DeserializeErrorKind::Incomplete);
    }
    assert_eq!(
        kind(b"X\xff\xff\xff\xffab."),
        DeserializeErrorKind::Incomplete
    );
    assert!(message(b"\x8b\xff\xff\xff\xff.").contains("negative byte count"));
    assert!(message(b"T\xff\xff\xff\xff.").contains("negative byte count"));
}

/// Ten levels of ten references to the previous level: 10^10 values from 234 bytes.
#[test]
fn memo_bomb_is_refused() {
    let mut data = vec![0x80, 4, op::EMPTY_LIST, op::MEMOIZE];
    for level in 0..10u8 {
        data.push(op::MARK);
        for _ in 0..10 {
            data.extend_from_slice(&[op::BINGET, level]);
        }
        data.extend_from_slice(&[op::LIST, op::MEMOIZE]);
    }
    data.push(op::STOP);
    let err = decode(&data).unwrap_err();
    assert_eq!(err.kind(), DeserializeErrorKind::Invalid);
    assert!(err.message().contains("memo amplification"), "{err}");

    // One 4 KiB string, then 10 000 references to it: few values, 40 MB of text.
    let mut data = vec![0x80, 4, op::MARK, op::BINUNICODE, 0, 0x10, 0, 0];
    data.extend_from_slice(&[b'x'; 4096]);
    data.push(op::MEMOIZE);
    for _ in 0..10_000 {
        data.extend_from_slice(&[op::BINGET, 0]);
    }
    data.extend_from_slice(&[op::LIST, op::STOP]);
    assert!(message(&data).contains("bytes of strings"));

    // Sharing within the budget is fine: [x] * 100 with x a 10-item list.
    let mut data = vec![0x80, 4, op::MARK];
    data.extend_from_slice(&[op::MARK, op::NONE, op::DUP, op::DUP, op::DUP, op::DUP]);
    data.extend_from_slice(&[
        op::DUP,
        op::DUP,
        op::DUP,
        op::DUP,
        op::DUP,
        op::LIST,
        op::MEMOIZE,
    ]);
    for _ in 0..99 {
        data.extend_from_slice(&[op::BINGET, 0]);
    }
    data.extend_from_slice(&[op::LIST, op::STOP]);
    let value = decode(&data).unwrap();
    assert_eq!(value, list(vec![list(vec![Value::Null; 10]); 100]));
}

fn nested(depth: usize) -> Value {
    let mut value = list(vec![]);
    for _ in 1..depth {
        value = list(vec![value]);
    }
    value
}

#[test]
fn nesting_is_bounded() {
    // 256 nested lists: accepted both ways; 257: refused both ways.
    let ok = nested(256);
    assert_eq!(decode(&encode(&ok, 4)).unwrap(), ok);
    assert!(encode_with(&nested(257), 4).is_err());
    let mut data = vec![op::EMPTY_LIST; 257];
    data.extend_from_slice(&[op::APPEND; 256]);
    data.push(op::STOP);
    assert!(message(&data).contains("more than 256 deep"));
    // 100 000 nested 1-tuples: no stack overflow.
    let mut data = vec![op::NONE];
    data.extend(std::iter::repeat(op::TUPLE1).take(100_000));
    data.push(op::STOP);
    assert!(message(&data).contains("deep"));
    // Depth built through the memo with a flat stack: L(n+1) = [L(n)].
    let mut data = vec![0x80, 4, op::EMPTY_LIST, op::MEMOIZE];
    for n in 0..2000u32 {
        data.extend_from_slice(&[op::POP, op::EMPTY_LIST, op::MEMOIZE, op::LONG_BINGET]);
        data.extend_from_slice(&n.to_le_bytes());
        data.push(op::APPEND);
    }
    data.push(op::STOP);
    assert!(message(&data).contains("deep"));
}

#[test]
fn recursive_structures_are_refused() {
    // l = []; l.append(l)
    assert!(message(b"]\x94h\x00a.").contains("recursive"));
    // l = []; t = (l,); l.append(t); pickle.dumps(t, 2) (POP and BINGET after the tuple)
    assert!(message(b"\x80\x02]q\x00h\x00\x85q\x01a0h\x01.").contains("recursive"));
}

#[test]
fn dict_keys_follow_python() {
    // {1: 'a', True: 'b', 1.0: 'c'} pickled by hand: Python loads {1: 'c'}.
    let data =
        b"\x80\x02}(K\x01X\x01\x00\x00\x00a\x88X\x01\x00\x00\x00bG?\xf0\x00\x00\x00\x00\x00\x00\
                 X\x01\x00\x00\x00cu.";
    assert_eq!(decode(data).unwrap(), map(vec![(i(1), s("c"))]));
    // Equal strings and tuples from different opcodes are the same key.
    let data = b"}(X\x01\x00\x00\x00kK\x01\x8c\x01kK\x02K\x01K\x02\x86K\x03K\x01K\x02\x86K\x04u.";
    assert_eq!(
        decode(data).unwrap(),
        map(vec![(s("k"), i(2)), (ints(&[1, 2]), i(4))])
    );
    // Unhashable keys, as Python: list, dict, bytearray, tuple holding a list.
    assert!(message(b"}]K\x01s.").contains("unhashable type: 'list'"));
    assert!(message(b"}}K\x01s.").contains("unhashable type: 'dict'"));
    assert!(
        message(b"\x80\x05}\x96\x01\x00\x00\x00\x00\x00\x00\x00aK\x01s.").contains("bytearray")
    );
    assert!(message(b"}]\x85K\x01s.").contains("unhashable type: 'tuple'"));
    // NaN keys never collide.
    let nan = f64::NAN.to_be_bytes();
    let mut data = vec![b'}', b'(', b'G'];
    data.extend_from_slice(&nan);
    data.extend_from_slice(b"K\x01G");
    data.extend_from_slice(&nan);
    data.extend_from_slice(b"K\x02u.");
    assert!(matches!(decode(&data).unwrap(), Value::Map(entries) if entries.len() == 2));
}

#[test]
fn stack_discipline_is_checked() {
    assert!(message(b"0.").contains("underflow"));
    assert!(message(b"(.").contains("underflow"));
    assert!(message(b"(e.").contains("underflow"));
    assert!(message(b"e.").contains("could not find MARK"));
    assert!(message(b"K\x01K\x02a.").contains("append"));
    assert!(message(b")K\x01a.").contains("append to a 'tuple'"));
    assert!(message(b"]K\x01K\x02s.").contains("set items on a 'list'"));
    assert!(message(b"}(K\x01u.").contains("odd number of items for SETITEMS"));
    assert!(message(b"(K\x01d.").contains("odd number of items for DICT"));
    assert!(message(b"h\x05.").contains("memo value not found at index 5"));
    assert!(message(b"\x80\x06N.").contains("unsupported pickle protocol: 6"));
    assert!(message(b"(K\x01\x86.").contains("underflow"));
    // Python accepts these: an empty batch, POP of a mark, POP after a mark.
    assert_eq!(decode(b"](e.").unwrap(), list(vec![]));
    assert_eq!(
        decode(b"(N(0K\x01t.").unwrap(),
        list(vec![Value::Null, i(1)])
    );
    assert_eq!(decode(b"(K\x01K\x02N0t.").unwrap(), ints(&[1, 2]));
}

#[test]
fn integers_and_floats() {
    // LONG1 of 17 bytes: 2**127 is beyond i128, -2**127 is not.
    let mut data = vec![op::LONG1, 17];
    data.extend_from_slice(&[0; 15]);
    data.extend_from_slice(&[0x80, 0x00, b'.']);
    assert!(message(&data).contains("128-bit"));
    let mut data = vec![op::LONG1, 16];
    data.extend_from_slice(&[0; 15]);
    data.extend_from_slice(&[0x80, b'.']);
    assert_eq!(decode(&data).unwrap(), i(i128::MIN));
    assert_eq!(decode(b"\x8a\x00.").unwrap(), i(0));
    assert_eq!(decode(b"\x8a\x03\xff\xff\xff.").unwrap(), i(-1));
    // Text integers: int(x, 0) rules.
    assert_eq!(decode(b"I0x1f\n.").unwrap(), i(31));
    assert_eq!(decode(b"I-7\n.").unwrap(), i(-7));
    assert_eq!(decode(b"I1_000\n.").unwrap(), i(1000));
    assert_eq!(
        decode(b"L-170141183460469231731687303715884105728L\n.").unwrap(),
        i(i128::MIN)
    );
    assert!(message(b"L170141183460469231731687303715884105728L\n.").contains("128-bit"));
    assert!(message(b"Iabc\n.").contains("INT"));
    assert!(message(b"I012\n.").contains("INT"));
    // Text floats.
    assert_eq!(
        decode(b"F-inf\n.").unwrap(),
        Value::Float(f64::NEG_INFINITY)
    );
    assert!(matches!(decode(b"Fnan\n.").unwrap(), Value::Float(x) if x.is_nan()));
    assert!(message(b"F1e400\n.").contains("FLOAT"));
    assert!(message(b"Fx\n.").contains("FLOAT"));
}

#[test]
fn text_opcodes() {
    // raw-unicode-escape: \u after an even number of backslashes is literal.
    assert_eq!(
        decode(b"V\\u00e9\\U0001f600a\\\\u0041\n.").unwrap(),
        s("é😀a\\\\u0041")
    );
    assert!(message(b"V\\ud800\n.").contains("surrogate"));
    assert!(message(b"V\\u12\n.").contains("truncated"));
    assert_eq!(decode(b"V\xe9\n.").unwrap(), s("é"));
    // STRING: quotes and bytes escapes, then UTF-8.
    assert_eq!(decode(b"S\"a'b\"\n.").unwrap(), s("a'b"));
    assert_eq!(
        decode(b"S'\\303\\251\\t\\x41\\q'\n.").unwrap(),
        s("é\tA\\q")
    );
    assert!(message(b"S'abc\n.").contains("must be quoted"));
    assert!(message(b"S'\\xff'\n.").contains("UTF-8"));
    assert!(message(b"S'\\x4'\n.").contains("\\x"));
    assert!(message(b"X\x01\x00\x00\x00\xff.").contains("UTF-8"));
    assert!(message(b"U\x01\xff.").contains("UTF-8"));
}
