//! Struct and record tests. Expected bytes come from CPython 3.11.7's `struct` module on
//! x86-64 Linux; each constant says how it was made.

use super::*;

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn b(bytes: &[u8]) -> Value {
    Value::Bytes(bytes.to_vec())
}

fn i(n: i128) -> Value {
    Value::Int(n)
}

fn s(text: &str) -> Value {
    Value::Str(text.to_owned())
}

fn pack(format: &str, values: &[Value]) -> Result<Vec<u8>, SerializeError> {
    let mut wire = BytesMut::new();
    StructFormat::parse(format)
        .unwrap()
        .pack(values, &mut wire)?;
    Ok(wire.to_vec())
}

fn record(name: &str, age: i128) -> Value {
    Value::Map(vec![(s("name"), s(name)), (s("age"), i(age))])
}

#[test]
fn easynetwork_struct_example() {
    // StructSerializer("ii"): (1, 2) -> 00 00 00 01 00 00 00 02
    let ser = StructSerializer::new("ii").unwrap();
    assert_eq!(ser.format().as_str(), "!ii");
    assert_eq!(ser.format().size(), 8);
    let mut wire = BytesMut::new();
    ser.encode(&[i(1), i(2)], &mut wire).unwrap();
    assert_eq!(&wire[..], [0, 0, 0, 1, 0, 0, 0, 2]);
    assert_eq!(ser.deserialize(&wire).unwrap(), [i(1), i(2)]);
}

#[test]
fn easynetwork_record_example() {
    // NamedTupleStructSerializer(Person, {"name": "10s", "age": "I"}): Person("John", 20)
    let ser = RecordSerializer::new([("name", "10s"), ("age", "I")]).unwrap();
    assert_eq!(ser.format().as_str(), "!10sI");
    let mut wire = BytesMut::new();
    ser.serialize(&record("John", 20), &mut wire).unwrap();
    assert_eq!(&wire[..], b"John\0\0\0\0\0\0\0\0\0\x14");
    assert_eq!(ser.deserialize(&wire).unwrap(), record("John", 20));
    // Keys in any order when sending.
    let reversed = Value::Map(vec![(s("age"), i(20)), (s("name"), s("John"))]);
    let mut again = BytesMut::new();
    ser.serialize(&reversed, &mut again).unwrap();
    assert_eq!(again, wire);
}

/// Every standard-size code: `struct.pack(o + 'xcbB?hHiIlLqQefd3s2p', *values).hex()`.
#[test]
fn every_code_in_standard_modes() {
    let values = [
        b(b"A"),
        i(-128),
        i(255),
        Value::Bool(true),
        i(-32768),
        i(65535),
        i(-(1 << 31)),
        i((1 << 32) - 1),
        i(-(1 << 31)),
        i((1 << 32) - 1),
        i(i64::MIN.into()),
        i(u64::MAX.into()),
        Value::Float(1.5),
        Value::Float(-2.25),
        Value::Float(1e100),
        b(b"ab"),
        b(b"xyz"),
    ];
    let unpacked = {
        let mut v = values.to_vec();
        v[15] = b(b"ab\0");
        v[16] = b(b"x");
        v
    };
    let little =
        "004180ff010080ffff00000080ffffffff00000080ffffffff0000000000000080ffffffffffffffff00\
                  3e000010c07dc39425ad49b2546162000178";
    let big =
        "004180ff018000ffff80000000ffffffff80000000ffffffff8000000000000000ffffffffffffffff3e00\
               c010000054b249ad2594c37d6162000178";
    let native_order = if cfg!(target_endian = "little") {
        little
    } else {
        big
    };
    for (order, expected) in [
        ("<", little),
        (">", big),
        ("!", big),
        ("=", native_order),
        ("", big),
    ] {
        let format = format!("{order}xcbB?hHiIlLqQefd3s2p");
        let parsed = StructFormat::parse(&format).unwrap();
        assert_eq!(parsed.size(), 60);
        assert_eq!(parsed.value_count(), 17);
        let wire = pack(&format, &values).unwrap();
        assert_eq!(wire, unhex(&expected.replace(' ', "")), "{format}");
        assert_eq!(parsed.unpack(&wire).unwrap(), unpacked, "{format}");
    }
}

/// Native mode: sizes and alignment of the machine's C types. On x86-64 Linux, Python gives
/// `struct.calcsize('@xcbB?hHiIlLqQnNPefd3s2p')` = 101 and the bytes below.
#[test]
fn every_code_in_native_mode() {
    let format = StructFormat::parse("@xcbB?hHiIlLqQnNPefd3s2p").unwrap();
    let long_bits = 8 * size_of::<c_long>() as u32;
    let values = [
        b(b"A"),
        i(-128),
        i(255),
        Value::Bool(true),
        i(-32768),
        i(65535),
        i(-(1 << 31)),
        i((1 << 32) - 1),
        i(-(1 << (long_bits - 1))),
        i((1 << long_bits) - 1),
        i(i64::MIN.into()),
        i(u64::MAX.into()),
        i(isize::MIN as i128),
        i(usize::MAX as i128),
        i(usize::MAX as i128),
        Value::Float(1.5),
        Value::Float(-2.25),
        Value::Float(1e100),
        b(b"ab"),
        b(b"xyz"),
    ];
    let mut wire = BytesMut::new();
    format.pack(&values, &mut wire).unwrap();
    assert_eq!(wire.len(), format.size());
    let mut expected = values.to_vec();
    expected[18] = b(b"ab\0");
    expected[19] = b(b"x");
    assert_eq!(format.unpack(&wire).unwrap(), expected);
    if cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        assert_eq!(format.size(), 101);
        let python = "004180ff01000080ffff000000000080ffffffff000000000000000000000080ffffffffffffffff00000000\
                      00000080ffffffffffffffff0000000000000080ffffffffffffffffffffffffffffffff003e0000000010\
                      c07dc39425ad49b2546162000178";
        assert_eq!(&wire[..], unhex(python));
        // calcsize('@b0l') == 8, '@bh' == 4, '@be' == 4, '@cd' == 16
        for (f, size) in [
            ("@b0l", 8),
            ("@bh", 4),
            ("@be", 4),
            ("@cd", 16),
            ("@bxl", 16),
        ] {
            assert_eq!(StructFormat::parse(f).unwrap().size(), size, "{f}");
        }
    }
    // `P` takes the signed and the unsigned range, as Python.
    assert!(pack("@P", &[i(-1)]).is_ok());
    assert!(pack("@P", &[i(isize::MIN as i128 - 1)]).is_err());
}

#[test]
fn range_and_type_errors() {
    let bad: &[(&str, Value)] = &[
        ("b", i(128)),
        ("b", i(-129)),
        ("B", i(-1)),
        ("B", i(256)),
        ("h", i(32768)),
        ("H", i(65536)),
        ("i", i(1 << 31)),
        ("I", i(-1)),
        ("l", i(1 << 32)),
        ("q", i(1 << 63)),
        ("Q", i(-1)),
        ("Q", i(1 << 64)),
        ("i", Value::Float(1.0)),
        ("i", s("1")),
        ("d", s("1.0")),
        ("f", Value::Float(1e300)),
        ("f", Value::Float(3.402_823_567_797_336_6e38)),
        ("e", Value::Float(65520.0)),
        ("c", b(b"ab")),
        ("c", i(1)),
        ("3s", s("abc")),
        ("3p", Value::Null),
    ];
    for (format, value) in bad {
        let mut wire = BytesMut::from(&b"keep"[..]);
        let format = StructFormat::parse(format).unwrap();
        let err = format
            .pack(std::slice::from_ref(value), &mut wire)
            .unwrap_err();
        assert!(err.message().starts_with("invalid value"), "{err}");
        assert_eq!(&wire[..], b"keep", "the buffer is left alone");
    }
    // Python accepts bools as integers, integers as floats, anything for '?'.
    assert_eq!(pack("<i", &[Value::Bool(true)]).unwrap(), [1, 0, 0, 0]);
    assert_eq!(pack("<d", &[i(1)]).unwrap(), 1f64.to_le_bytes());
    assert_eq!(
        pack("3?", &[i(5), s(""), Value::List(vec![Value::Null])]).unwrap(),
        [1, 0, 1]
    );
    // Wrong number of values.
    let err = pack("ii", &[i(1)]).unwrap_err();
    assert_eq!(
        err.message(),
        "invalid value: pack expected 2 items for packing (got 1)"
    );
    assert!(pack("2x", &[i(1)]).is_err());
    assert_eq!(pack("2x", &[]).unwrap(), [0, 0]);
}

#[test]
fn strings_pad_and_truncate() {
    // struct.pack('!5s5s', b'ab', b'abcdefg') == b'ab\x00\x00\x00abcde'
    assert_eq!(
        pack("5s5s", &[b(b"ab"), b(b"abcdefg")]).unwrap(),
        b"ab\0\0\0abcde"
    );
    // Pascal strings: struct.pack('3p', b'abcdef') == b'\x02ab'; '1p' holds nothing.
    assert_eq!(pack("3p", &[b(b"abcdef")]).unwrap(), b"\x02ab");
    assert_eq!(pack("1p", &[b(b"abc")]).unwrap(), b"\x00");
    let long = pack("300p", &[b(&[b'a'; 300])]).unwrap();
    assert_eq!(&long[..2], b"\xffa");
    // struct.unpack('3p', b'\xffab') == (b'ab',)
    let format = StructFormat::parse("3p").unwrap();
    assert_eq!(format.unpack(b"\xffab").unwrap(), [b(b"ab")]);
    // 0s and 0p hold an empty string and take no room.
    let format = StructFormat::parse("0sb0p").unwrap();
    assert_eq!((format.size(), format.value_count()), (1, 3));
    assert_eq!(format.unpack(b"\x07").unwrap(), [b(b""), i(7), b(b"")]);
}

#[test]
fn half_floats_round_like_python() {
    // struct.pack('<e', x) for each x.
    let cases: &[(f64, u16)] = &[
        (1.0, 0x3c00),
        (-2.0, 0xc000),
        (65504.0, 0x7bff),
        (65519.99, 0x7bff),
        (6e-8, 0x0001),
        (2.980_232_238_769_531_2e-8, 0x0000),
        (2.980_232_238_769_531_2e-8 * 1.000_000_1, 0x0001),
        (1e-8, 0x0000),
        (-0.0, 0x8000),
        (f64::INFINITY, 0x7c00),
        (f64::NEG_INFINITY, 0xfc00),
        (f64::NAN, 0x7e00),
        (-f64::NAN, 0xfe00),
        (6.103_515_625e-5, 0x0400),
        (0.333_333_333_333, 0x3555),
    ];
    for &(x, bits) in cases {
        assert_eq!(f64_to_f16(x), Some(bits), "{x}");
        let wire = pack("<e", &[Value::Float(x)]).unwrap();
        assert_eq!(wire, bits.to_le_bytes(), "{x}");
    }
    assert_eq!(f64_to_f16(65520.0), None);
    assert_eq!(f64_to_f16(1e10), None);
    // Every finite half widens exactly and narrows back to itself.
    for bits in 0..=u16::MAX {
        let x = f16_to_f64(bits);
        if x.is_nan() {
            continue;
        }
        assert_eq!(f64_to_f16(x), Some(bits), "{bits:#06x}");
    }
    assert_eq!(f16_to_f64(0x0001), 2f64.powi(-24));
    assert!(f16_to_f64(0x7e00).is_nan());
}

#[test]
fn bad_format_strings() {
    for (format, message) in [
        ("3", "repeat count given without format specifier"),
        ("z", "bad char in struct format"),
        ("<n", "bad char in struct format"),
        ("!P", "bad char in struct format"),
        ("i<", "bad char in struct format"),
        ("3 i", "bad char in struct format"),
        (" <i", "bad char in struct format"),
        ("ié", "bad char in struct format"),
        ("99999999999999999999i", "total struct size too long"),
        ("4611686018427387904i", "total struct size too long"),
    ] {
        let err = StructFormat::parse(format).unwrap_err();
        assert!(err.message().starts_with(message), "{format}: {err}");
    }
    // Whitespace between items is fine.
    assert_eq!(StructFormat::parse("i i\t\n2h").unwrap().size(), 12);
    // An empty format parses but cannot frame packets.
    assert_eq!(StructFormat::parse("").unwrap().size(), 0);
    assert!(StructSerializer::new("").is_err());
    assert!(StructSerializer::new("0s").is_err());
}

#[test]
fn datagrams_must_have_the_exact_size() {
    let ser = StructSerializer::new("<hh").unwrap();
    assert_eq!(ser.deserialize(b"\x01\x00\x02\x00").unwrap(), [i(1), i(2)]);
    assert_eq!(
        ser.deserialize(b"\x01\x00\x02").unwrap_err().kind(),
        DeserializeErrorKind::Incomplete
    );
    assert_eq!(
        ser.deserialize(b"\x01\x00\x02\x00\x03").unwrap_err().kind(),
        DeserializeErrorKind::TrailingData
    );
    let r = RecordSerializer::new([("a", "h")]).unwrap();
    assert_eq!(
        r.deserialize(b"\x01").unwrap_err().kind(),
        DeserializeErrorKind::Incomplete
    );
    assert_eq!(
        r.deserialize(b"\x01\x02\x03").unwrap_err().kind(),
        DeserializeErrorKind::TrailingData
    );
}

#[test]
fn streams_byte_by_byte() {
    let ser = StructSerializer::new(">Hc").unwrap();
    let mut wire = BytesMut::new();
    for n in 0..3 {
        ser.encode(&[i(n * 1000), b(b"z")], &mut wire).unwrap();
    }
    assert_eq!(wire.len(), 9);
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for &byte in wire.iter() {
        buf.extend_from_slice(&[byte]);
        while let Some(packet) = ser.decode(&mut (), &mut buf).unwrap() {
            got.push(packet);
        }
    }
    assert_eq!(
        got,
        (0..3)
            .map(|n| vec![i(n * 1000), b(b"z")])
            .collect::<Vec<_>>()
    );
    assert!(buf.is_empty());
    // Leftover bytes at the end of the stream are an error.
    buf.extend_from_slice(b"\x00");
    assert_eq!(
        ser.decode_eof(&mut (), &mut buf).unwrap_err().kind(),
        DeserializeErrorKind::Incomplete
    );
    assert_eq!(ser.decode_eof(&mut (), &mut buf).unwrap(), None);
}

#[test]
fn record_strings() {
    let fields = [("name", "6s"), ("id", "B")];
    let ser = RecordSerializer::new(fields).unwrap();
    let mut wire = BytesMut::new();
    // Longer text is truncated to the field, as struct does.
    ser.serialize(
        &Value::Map(vec![(s("name"), s("Zoé!!!!")), (s("id"), i(1))]),
        &mut wire,
    )
    .unwrap();
    assert_eq!(&wire[..], b"Zo\xc3\xa9!!\x01");
    // Trailing NULs are stripped, then the text decoded.
    let decoded = ser.deserialize(b"ab\0\0\0\0\x02").unwrap();
    assert_eq!(
        decoded,
        Value::Map(vec![(s("name"), s("ab")), (s("id"), i(2))])
    );
    // ... unless stripping is off.
    let keep = RecordSerializer::new(fields)
        .unwrap()
        .with_strip_trailing_nul(false);
    assert_eq!(
        keep.deserialize(b"ab\0\0\0\0\x02").unwrap().get("name"),
        Some(&s("ab\0\0\0\0"))
    );
    // Without an encoding, string fields are bytes both ways.
    let raw = RecordSerializer::new(fields).unwrap().with_encoding(None);
    assert_eq!(
        raw.deserialize(b"a\0b\0\0\0\x03").unwrap().get("name"),
        Some(&b(b"a\0b"))
    );
    let mut wire = BytesMut::new();
    raw.serialize(
        &Value::Map(vec![(s("name"), b(b"\xff")), (s("id"), i(3))]),
        &mut wire,
    )
    .unwrap();
    assert_eq!(&wire[..], b"\xff\0\0\0\0\0\x03");
    assert!(raw
        .serialize(
            &Value::Map(vec![(s("name"), s("x")), (s("id"), i(3))]),
            &mut wire
        )
        .is_err());
    // Other encodings.
    let latin = RecordSerializer::new(fields)
        .unwrap()
        .with_encoding(Some(Encoding::Latin1));
    let mut wire = BytesMut::new();
    latin
        .serialize(
            &Value::Map(vec![(s("name"), s("é")), (s("id"), i(4))]),
            &mut wire,
        )
        .unwrap();
    assert_eq!(&wire[..], b"\xe9\0\0\0\0\0\x04");
    assert_eq!(latin.deserialize(&wire).unwrap().get("name"), Some(&s("é")));
    let ascii = RecordSerializer::new(fields)
        .unwrap()
        .with_encoding(Some(Encoding::Ascii));
    assert!(ascii
        .serialize(
            &Value::Map(vec![(s("name"), s("é")), (s("id"), i(4))]),
            &mut wire
        )
        .is_err());
}

#[test]
fn invalid_utf8_field_is_recoverable_on_a_stream() {
    let ser = RecordSerializer::new([("name", "4s"), ("n", "H")]).unwrap();
    let mut buf = BytesMut::from(&b"\xff\xfeab\x00\x01ok\0\0\x00\x02"[..]);
    let err = ser.decode(&mut (), &mut buf).unwrap_err();
    assert_eq!(err.kind(), DeserializeErrorKind::Invalid);
    assert!(err.is_recoverable());
    assert!(err.message().contains("\"name\""), "{err}");
    assert_eq!(buf.len(), 6, "the bad record was consumed");
    let next = ser.decode(&mut (), &mut buf).unwrap().unwrap();
    assert_eq!(next, Value::Map(vec![(s("name"), s("ok")), (s("n"), i(2))]));
}

#[test]
fn record_field_rules() {
    for fields in [
        vec![("a", "ii")],
        vec![("a", "<i")],
        vec![("a", "x")],
        vec![("a", "")],
        vec![("a", "s3")],
        vec![("a", "3i")],
        vec![("a", "z")],
        vec![("a", "i"), ("a", "h")],
        vec![("", "i")],
        vec![],
        vec![("a", "0s")],
    ] {
        assert!(RecordSerializer::new(fields.clone()).is_err(), "{fields:?}");
    }
    // 's' alone is a one-byte string; '?' and 'c' are single codes too.
    let r = RecordSerializer::new([("s", "s"), ("flag", "?"), ("c", "c"), ("n", "q")]).unwrap();
    assert_eq!(r.format().size(), 11);
    assert_eq!(r.fields()[3], RecordField::new("n", "q"));
    // Native-only codes need the native mode.
    assert!(RecordSerializer::new([("p", "P")]).is_err());
    let r = RecordSerializer::with_byte_order(ByteOrder::Native, [("b", "b"), ("p", "P")]).unwrap();
    assert_eq!(r.format().as_str(), "@bP");
    assert_eq!(r.format().size(), 2 * size_of::<usize>());
}

#[test]
fn record_packets_must_match_the_fields() {
    let ser = RecordSerializer::new([("name", "10s"), ("age", "I")]).unwrap();
    let mut wire = BytesMut::from(&b"keep"[..]);
    let bad = [
        Value::List(vec![s("John"), i(20)]),
        Value::Map(vec![(s("name"), s("John"))]),
        Value::Map(vec![
            (s("name"), s("John")),
            (s("age"), i(20)),
            (s("x"), i(1)),
        ]),
        Value::Map(vec![
            (s("name"), s("John")),
            (s("age"), i(20)),
            (s("age"), i(21)),
        ]),
        Value::Map(vec![(s("name"), i(1)), (s("age"), i(20))]),
        Value::Map(vec![(s("name"), s("John")), (s("age"), i(-1))]),
    ];
    for packet in bad {
        assert!(ser.encode(&packet, &mut wire).is_err(), "{packet:?}");
        assert_eq!(&wire[..], b"keep");
    }
}

#[test]
fn record_byte_order() {
    let ser =
        RecordSerializer::with_byte_order(ByteOrder::Little, [("x", "H"), ("y", "h")]).unwrap();
    assert_eq!(ser.format().as_str(), "<Hh");
    let point = Value::Map(vec![(s("x"), i(1)), (s("y"), i(-2))]);
    let mut wire = BytesMut::new();
    ser.encode(&point, &mut wire).unwrap();
    assert_eq!(&wire[..], b"\x01\x00\xfe\xff");
    assert_eq!(ser.decode(&mut (), &mut wire).unwrap(), Some(point));
    // A native-only code in a standard mode is refused.
    let native = RecordSerializer::new([("n", "n")]);
    assert!(native.is_err());
}

#[test]
fn byte_order_characters() {
    for order in [
        ByteOrder::Native,
        ByteOrder::NativeStandard,
        ByteOrder::Little,
        ByteOrder::Big,
        ByteOrder::Network,
    ] {
        assert_eq!(ByteOrder::from_char(order.as_char()), Some(order));
        let format = StructFormat::with_byte_order(order, "h").unwrap();
        assert_eq!(format.byte_order(), order);
        assert_eq!(format.to_string(), format!("{}h", order.as_char()));
    }
    assert_eq!(ByteOrder::from_char('x'), None);
    assert_eq!(ByteOrder::default(), ByteOrder::Network);
}
