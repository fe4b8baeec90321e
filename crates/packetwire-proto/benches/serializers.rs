//! Framed serialization versus the plain serde call, in the same run.
//!
//! For each format and document size, two pairs of benchmarks:
//! `encode/<format>/<size>/packetwire` against `encode/<format>/<size>/serde`, and the same for
//! `decode`. The packetwire side includes everything a connection does per packet (conversion,
//! framing, limit checks, taking the frame off the receive buffer); the serde side is the bare
//! library call into or out of a reused buffer. `scripts/bench_ratios.py` turns criterion's
//! estimates into the ratio table of BENCHMARKS.md.

use std::collections::BTreeMap;
use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_main, BatchSize, Criterion};
use packetwire_proto::{StreamSerializer, *};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Document {
    id: u64,
    title: String,
    active: bool,
    ratio: f64,
    tags: Vec<String>,
    attributes: BTreeMap<String, String>,
    items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Item {
    sku: String,
    quantity: u32,
    price: f64,
    notes: Option<String>,
    dimensions: [i32; 3],
}

/// A nested JSON-like document whose compact JSON text is about `target` bytes.
fn document(target: usize) -> Document {
    let mut doc = Document {
        id: 9_007_199_254_740_993,
        title: "Quarterly inventory report for the north-east warehouse".into(),
        active: true,
        ratio: 0.618_033_988_749_895,
        tags: ["inventory", "warehouse", "report", "q3"]
            .map(String::from)
            .to_vec(),
        attributes: [
            ("region", "north-east"),
            ("owner", "ops-team"),
            ("format", "v2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
        items: Vec::new(),
    };
    let mut n = 0u32;
    while serde_json::to_vec(&doc).unwrap().len() < target {
        doc.items.push(Item {
            sku: format!("SKU-{n:06}-X"),
            quantity: n * 7 % 1000,
            price: f64::from(n) * 1.25 + 0.99,
            notes: (n % 3 == 0).then(|| format!("restock before week {}", n % 52)),
            dimensions: [n as i32, -(n as i32), 42],
        });
        n += 1;
    }
    doc
}

/// Benchmarks one format: packetwire's framed stream serializer against the plain serde calls.
fn pair<S>(
    c: &mut Criterion,
    format: &str,
    serializer: &S,
    serde_encode: impl Fn(&Document, &mut Vec<u8>),
    serde_decode: impl Fn(&[u8]) -> Document,
) where
    S: StreamSerializer<Sent = Document, Received = Document>,
{
    for (label, size) in [("1KiB", 1024), ("10KiB", 10 * 1024)] {
        let doc = document(size);

        let mut group = c.benchmark_group(format!("encode/{format}/{label}"));
        let mut wire = BytesMut::with_capacity(4 * size);
        group.bench_function("packetwire", |b| {
            b.iter(|| {
                wire.clear();
                serializer.encode(black_box(&doc), &mut wire).unwrap();
                black_box(wire.len())
            })
        });
        let mut plain = Vec::with_capacity(4 * size);
        group.bench_function("serde", |b| {
            b.iter(|| {
                plain.clear();
                serde_encode(black_box(&doc), &mut plain);
                black_box(plain.len())
            })
        });
        group.finish();

        let mut framed = BytesMut::new();
        serializer.encode(&doc, &mut framed).unwrap();
        let mut bare = Vec::new();
        serde_encode(&doc, &mut bare);
        let mut state = serializer.decode_state();
        let mut group = c.benchmark_group(format!("decode/{format}/{label}"));
        group.bench_function("packetwire", |b| {
            b.iter_batched_ref(
                || framed.clone(),
                |buf| serializer.decode(&mut state, buf).unwrap().unwrap(),
                BatchSize::SmallInput,
            )
        });
        group.bench_function("serde", |b| {
            b.iter_batched_ref(
                || bare.clone(),
                |buf| serde_decode(buf),
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

fn json(c: &mut Criterion) {
    let encode = |d: &Document, out: &mut Vec<u8>| serde_json::to_writer(out, d).unwrap();
    let decode = |b: &[u8]| serde_json::from_slice(b).unwrap();
    pair(
        c,
        "json",
        &JsonSerializer::<Document>::new().with_ensure_ascii(false),
        encode,
        decode,
    );
    pair(
        c,
        "json-ascii",
        &JsonSerializer::<Document>::new(),
        encode,
        decode,
    );
    pair(
        c,
        "json-raw",
        &JsonSerializer::<Document>::new().with_lines(false),
        encode,
        decode,
    );
}

fn binary(c: &mut Criterion) {
    pair(
        c,
        "msgpack",
        &MsgpackSerializer::<Document>::new(),
        |d, out| {
            d.serialize(&mut rmp_serde::Serializer::new(out).with_struct_map())
                .unwrap()
        },
        |b| rmp_serde::from_slice(b).unwrap(),
    );
    pair(
        c,
        "cbor",
        &CborSerializer::<Document>::new(),
        |d, out| ciborium::into_writer(d, out).unwrap(),
        |b| ciborium::from_reader(b).unwrap(),
    );
    pair(
        c,
        "postcard",
        &PostcardSerializer::<Document>::new(),
        |d, out| {
            let written = postcard::to_extend(d, std::mem::take(out)).unwrap();
            *out = written;
        },
        |b| postcard::from_bytes(b).unwrap(),
    );
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    json(&mut c);
    binary(&mut c);
}

criterion_main!(benches);
