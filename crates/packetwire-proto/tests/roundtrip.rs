//! Property tests: random packets through every serializer × wrapper combination, on streams
//! fed in random chunks and as datagrams, must come back equal.
#![cfg(all(
    feature = "json",
    feature = "msgpack",
    feature = "cbor",
    feature = "pickle",
    feature = "postcard",
    feature = "base64",
    feature = "zlib",
    feature = "bz2",
    feature = "zstd"
))]

use bytes::BytesMut;
use packetwire_proto::dynamic::CodecSpec;
use packetwire_proto::Value;
use proptest::collection::vec;
use proptest::prelude::*;

/// Wrapper stacks tried with every serializer ("" is no wrapper).
const WRAPS: &[&str] = &[
    "",
    "base64",
    "base64:standard:checksum",
    "base64:key=wD1Xxj0_UuHmNNFMVZHbtJAi0MH8ZG-2JaHhWbXWFiY=",
    "zlib",
    "bz2",
    "zstd",
    "zlib,base64",
    "bz2,base64:checksum",
    "zstd,base64:standard",
];

fn int64() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(|n| Value::Int(n.into())),
        any::<u64>().prop_map(|n| Value::Int(n.into())),
        (-1000i64..1000).prop_map(|n| Value::Int(n.into())),
    ]
}

fn finite_float() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(Value::Float),
        (-1e6f64..1e6).prop_map(Value::Float),
    ]
}

/// Plain data that JSON can carry: no byte strings, string keys.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        int64(),
        finite_float(),
        any::<String>().prop_map(Value::Str),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::List),
            proptest::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Map(m.into_iter().map(|(k, v)| (Value::Str(k), v)).collect())),
        ]
    })
}

/// Plain data with byte strings and integer keys (MessagePack, CBOR, pickle, postcard).
fn binary_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        int64(),
        finite_float(),
        any::<String>().prop_map(Value::Str),
        vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        let key = prop_oneof![
            any::<String>().prop_map(Value::Str),
            (-100i64..100).prop_map(|n| Value::Int(n.into())),
        ];
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::List),
            vec((key, inner), 0..6).prop_map(|entries| {
                // Unique keys: maps with duplicate keys are not plain data in Python.
                let mut seen = Vec::new();
                Value::Map(
                    entries
                        .into_iter()
                        .filter(|(k, _)| {
                            let fresh = !seen.contains(k);
                            seen.push(k.clone());
                            fresh
                        })
                        .collect(),
                )
            }),
        ]
    })
}

fn spec(serializer: &str, wrap: &str) -> CodecSpec {
    CodecSpec::new(serializer).with_wrap_list(wrap)
}

/// Encodes `packets` on a stream, feeds the bytes back cut at `cuts`, and checks every packet
/// comes back in order; then checks each packet as a datagram.
fn check(spec: &CodecSpec, packets: &[Value], cuts: &[usize]) -> Result<(), TestCaseError> {
    let stream = spec
        .build_stream()
        .map_err(|e| TestCaseError::fail(format!("{spec:?}: {e}")))?;
    let mut wire = BytesMut::new();
    for p in packets {
        stream
            .encode(p, &mut wire)
            .map_err(|e| TestCaseError::fail(format!("encode {p:?}: {e}")))?;
    }
    let wire = wire.freeze();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
    points.push(0);
    points.push(wire.len());
    points.sort_unstable();
    let mut decoder = stream.decoder();
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for pair in points.windows(2) {
        buf.extend_from_slice(&wire[pair[0]..pair[1]]);
        while let Some(p) = decoder
            .decode(&mut buf)
            .map_err(|e| TestCaseError::fail(format!("decode: {e}")))?
        {
            got.push(p);
        }
    }
    prop_assert!(buf.is_empty(), "{} bytes left over", buf.len());
    prop_assert_eq!(&got, packets);

    let datagram = spec
        .build_datagram()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    for p in packets {
        let mut d = BytesMut::new();
        datagram
            .serialize(p, &mut d)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back = datagram
            .deserialize(&d)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, p);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn json_any_wrap(wrap in proptest::sample::select(WRAPS), raw in any::<bool>(),
                     packets in vec(json_value(), 1..5), cuts in vec(any::<usize>(), 0..12)) {
        check(&spec(if raw { "json-raw" } else { "json" }, wrap), &packets, &cuts)?;
    }

    #[test]
    fn line_any_wrap(wrap in proptest::sample::select(WRAPS),
                     nl in proptest::sample::select(&["lf", "cr", "crlf"][..]),
                     lines in vec("[ -~]{0,30}", 1..6), cuts in vec(any::<usize>(), 0..12)) {
        let mut spec = spec("line", wrap);
        spec.newline = Some(nl.to_owned());
        // Wrapped lines are one-shot payloads: only unwrapped streams strip the line ending.
        let packets: Vec<Value> = lines.into_iter().map(Value::Str).collect();
        check(&spec, &packets, &cuts)?;
    }

    #[test]
    fn binary_formats_any_wrap(
        serializer in proptest::sample::select(&["msgpack", "cbor", "postcard"][..]),
        wrap in proptest::sample::select(WRAPS),
        packets in vec(binary_value(), 1..5),
        cuts in vec(any::<usize>(), 0..12),
    ) {
        check(&spec(serializer, wrap), &packets, &cuts)?;
    }

    #[test]
    fn pickle_wrapped(wrap in proptest::sample::select(&WRAPS[1..]),
                      packets in vec(binary_value(), 1..5), cuts in vec(any::<usize>(), 0..12)) {
        check(&spec("pickle", wrap), &packets, &cuts)?;
    }

    #[test]
    fn structs_any_wrap(wrap in proptest::sample::select(WRAPS),
                        rows in vec((any::<i32>(), any::<i16>(), finite_float(), any::<bool>()), 1..5),
                        cuts in vec(any::<usize>(), 0..12)) {
        let packets: Vec<Value> = rows
            .into_iter()
            .map(|(a, b, c, d)| Value::List(vec![Value::Int(a.into()), Value::Int(b.into()), c, Value::Bool(d)]))
            .collect();
        check(&spec("struct:!ihd?", wrap), &packets, &cuts)?;
    }

    #[test]
    fn records_any_wrap(wrap in proptest::sample::select(WRAPS),
                        rows in vec(("[a-zA-Z ]{0,10}", any::<u32>()), 1..5),
                        cuts in vec(any::<usize>(), 0..12)) {
        let packets: Vec<Value> = rows
            .into_iter()
            .map(|(name, age)| Value::Map(vec![
                (Value::from("name"), Value::Str(name)),
                (Value::from("age"), Value::Int(age.into())),
            ]))
            .collect();
        check(&spec("record:name=10s,age=I", wrap), &packets, &cuts)?;
    }
}

/// Feeds arbitrary bytes in chunks and checks the decoder contract on hostile input: no panic,
/// and every call either returns a packet, asks for more, or fails after consuming bytes (so a
/// reader looping on errors always makes progress and ends).
fn hostile(spec: &CodecSpec, input: &[u8], cuts: &[usize]) -> Result<(), TestCaseError> {
    let Ok(stream) = spec.build_stream() else {
        return Ok(());
    };
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.extend([0, input.len()]);
    points.sort_unstable();
    let mut decoder = stream.decoder();
    let mut buf = BytesMut::new();
    for (i, pair) in points.windows(2).enumerate() {
        buf.extend_from_slice(&input[pair[0]..pair[1]]);
        let last = i + 2 == points.len();
        // A generous bound: each packet or error consumes at least one byte.
        for _ in 0..=input.len() + 1 {
            let before = buf.len();
            let result = if last {
                decoder.decode_eof(&mut buf)
            } else {
                decoder.decode(&mut buf)
            };
            match result {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => prop_assert!(
                    buf.len() < before || !e.is_recoverable() || before == 0,
                    "{spec:?}: error without progress: {e}"
                ),
            }
            if buf.is_empty() && !last {
                break;
            }
        }
    }
    if let Ok(datagram) = spec.build_datagram() {
        let _ = datagram.deserialize(input);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn hostile_bytes_never_panic(
        serializer in proptest::sample::select(&[
            "json", "json-raw", "line", "msgpack", "cbor", "pickle", "postcard",
            "struct:!ihd?", "record:name=10s,age=I",
        ][..]),
        wrap in proptest::sample::select(WRAPS),
        input in prop_oneof![
            vec(any::<u8>(), 0..300),
            // Mostly-valid structure: frequent brackets, quotes, separators and headers.
            vec(proptest::sample::select(&b"{}[]\"\\\n\r, 01a\x82\x91\xa1\xc1\xff\x1c\x9f=+/"[..]), 0..300),
        ],
        cuts in vec(any::<usize>(), 0..12),
    ) {
        hostile(&spec(serializer, wrap), &input, &cuts)?;
    }
}
