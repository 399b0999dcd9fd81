//! What the fuzz targets run, shared with `tests/fuzz_corpus.rs`, which
//! replays the seed corpus on stable Rust as an ordinary test.
#![allow(dead_code)] // each user includes this file and calls part of it

use std::path::Path;

use chunklog::format::{self, Codec, RecordKind};
use chunklog::{ChunkLog, Config};

/// Decodes arbitrary bytes as a chunk header, a frame, every record body
/// kind and a trailer. Must never panic.
pub fn decode_record(data: &[u8]) {
    let _ = format::decode_header(data);
    // Format 1; format 2 with salt 0; and format 2 with the salt in the
    // first four bytes, the frame after them (how the corpus holds
    // format-2 frames, whose CRCs are seeded with their chunk's salt).
    let mut inputs = vec![(Codec::V1, data), (Codec::v2(0), data)];
    if data.len() >= 4 {
        let salt = u32::from_le_bytes(data[..4].try_into().unwrap());
        inputs.push((Codec::v2(salt), &data[4..]));
    }
    for (codec, data) in inputs {
        if let Ok(f) = format::decode_frame(codec, data) {
            let _ = format::decode_record(codec, f.kind, f.body);
        }
        for kind in RecordKind::ALL {
            let _ = format::decode_record(codec, kind, data);
        }
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
