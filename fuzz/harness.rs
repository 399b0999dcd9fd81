//! What the fuzz targets run, shared with `tests/fuzz_corpus.rs`, which
//! replays the seed corpus on stable Rust as an ordinary test.
#![allow(dead_code)] // each user includes this file and calls part of it

use std::path::Path;

use chunklog::format::{self, RecordKind};
use chunklog::{ChunkLog, Config};

/// Decodes arbitrary bytes as a chunk header, a frame, every record body
/// kind and a trailer. Must never panic.
pub fn decode_record(data: &[u8]) {
    let _ = format::decode_header(data);
    if let Ok(f) = format::decode_frame(data) {
        let _ = format::decode_record(f.kind, f.body);
    }
    for kind in RecordKind::ALL {
        let _ = format::decode_record(kind, data);
    }
    if data.len() >= format::TRAILER_LEN {
        let _ = format::decode_trailer(&data[data.len() - format::TRAILER_LEN..]);
    }
}

/// Splits `data` into up to four chunk files (`u32` little-endian length,
/// then that many bytes, repeated), writes them into `dir` as chunks
/// 1, 2, ..., opens the store and reads everything it offers. Must never
/// panic or hang; open may refuse.
pub fn open_dir(dir: &Path, data: &[u8]) {
    let mut rest = data;
    let mut id = 1u64;
    while rest.len() >= 4 && id <= 4 {
        let n = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
        let body = &rest[4..];
        let n = n.min(body.len());
        std::fs::write(dir.join(format::chunk_file_name(id)), &body[..n]).unwrap();
        rest = &body[n..];
        id += 1;
    }
    if let Ok(log) = ChunkLog::open(Config::new(dir)) {
        let _ = log.read_range(..);
        let _ = log.stats();
    }
}

/// Packs chunk files into one `open_dir` input.
pub fn pack(files: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in files {
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}
