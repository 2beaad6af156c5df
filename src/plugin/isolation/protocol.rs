//! The pipe protocol between the host and its `llmtrace plugin-host` child: length-prefixed
//! frames carrying the ABI's own JSON payloads, byte for byte.
//!
//! - request (host → child): `LTRQ`, op (`u8`), body length (`u32` LE), body;
//! - reply (child → host): `LTRP`, status (`u32` LE), error length, error bytes, body length,
//!   body.
//!
//! The magic numbers make anything else on the pipe (a stray write, a different program) a
//! protocol error at once, rather than a misread length.

use std::io::{self, Read, Write};

const REQUEST_MAGIC: &[u8; 4] = b"LTRQ";
const REPLY_MAGIC: &[u8; 4] = b"LTRP";

/// No frame is larger: a length above it is garbage, not a payload to allocate for.
const MAX_LEN: usize = 256 << 20;

/// What the host asks the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::plugin) enum Op {
    /// Load the library and create the instance; the body is the options JSON. The reply's
    /// body is the plugin's [`Hello`](super::child::Hello).
    Create = 0,
    /// `export(batch)`.
    Export = 1,
    /// `flush()`.
    Flush = 2,
    /// `generate(request)`; the reply's body is the response.
    Generate = 3,
}

impl Op {
    fn from_u8(op: u8) -> Option<Op> {
        [Op::Create, Op::Export, Op::Flush, Op::Generate]
            .into_iter()
            .find(|known| *known as u8 == op)
    }
}

/// The child's answer: the plugin's status and buffers, unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reply {
    pub(super) status: u32,
    pub(super) err: Vec<u8>,
    pub(super) body: Vec<u8>,
}

pub(super) fn write_request(out: &mut impl Write, op: Op, body: &[u8]) -> io::Result<()> {
    out.write_all(REQUEST_MAGIC)?;
    out.write_all(&[op as u8])?;
    write_chunk(out, body)?;
    out.flush()
}

/// The next request, or `None` when the host closed the pipe.
pub(super) fn read_request(input: &mut impl Read) -> io::Result<Option<(Op, Vec<u8>)>> {
    let mut magic = [0; 4];
    match input.read_exact(&mut magic) {
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        other => other?,
    }
    expect_magic(&magic, REQUEST_MAGIC)?;
    let mut op = [0; 1];
    input.read_exact(&mut op)?;
    let op = Op::from_u8(op[0]).ok_or_else(|| invalid(format!("unknown operation {}", op[0])))?;
    Ok(Some((op, read_chunk(input)?)))
}

pub(super) fn write_reply(out: &mut impl Write, reply: &Reply) -> io::Result<()> {
    out.write_all(REPLY_MAGIC)?;
    out.write_all(&reply.status.to_le_bytes())?;
    write_chunk(out, &reply.err)?;
    write_chunk(out, &reply.body)?;
    out.flush()
}

pub(super) fn read_reply(input: &mut impl Read) -> io::Result<Reply> {
    let mut magic = [0; 4];
    input.read_exact(&mut magic)?;
    expect_magic(&magic, REPLY_MAGIC)?;
    let mut status = [0; 4];
    input.read_exact(&mut status)?;
    Ok(Reply {
        status: u32::from_le_bytes(status),
        err: read_chunk(input)?,
        body: read_chunk(input)?,
    })
}

fn write_chunk(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len())
        .ok()
        .filter(|&len| len as usize <= MAX_LEN)
        .ok_or_else(|| invalid(format!("a payload of {} bytes is too large", bytes.len())))?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(bytes)
}

fn read_chunk(input: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut len = [0; 4];
    input.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_LEN {
        return Err(invalid(format!("a frame announces {len} bytes")));
    }
    let mut bytes = vec![0; len];
    input.read_exact(&mut bytes)?;
    Ok(bytes)
}

fn expect_magic(found: &[u8; 4], expected: &[u8; 4]) -> io::Result<()> {
    if found == expected {
        return Ok(());
    }
    Err(invalid(format!(
        "expected a frame, found {:?}",
        String::from_utf8_lossy(found)
    )))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut pipe = Vec::new();
        write_request(&mut pipe, Op::Export, br#"{"schema":"1.0"}"#).unwrap();
        let (op, body) = read_request(&mut pipe.as_slice()).unwrap().unwrap();
        assert_eq!(
            (op, body.as_slice()),
            (Op::Export, &br#"{"schema":"1.0"}"#[..])
        );

        let reply = Reply {
            status: 1,
            err: b"disk full".to_vec(),
            body: Vec::new(),
        };
        let mut pipe = Vec::new();
        write_reply(&mut pipe, &reply).unwrap();
        assert_eq!(read_reply(&mut pipe.as_slice()).unwrap(), reply);
        assert!(
            read_request(&mut &b""[..]).unwrap().is_none(),
            "a closed pipe"
        );
    }

    #[test]
    fn garbage_is_invalid_data_not_a_huge_allocation() {
        let error = read_reply(&mut &b"hello world, this is not a frame"[..]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(error.to_string().contains("hell"), "{error}");
        let mut huge = b"LTRP\0\0\0\0".to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        let error = read_reply(&mut huge.as_slice()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }
}
