//! The "TCP + AEAD" lane of the benchmark: a measurement, not a transport. It is the TCP
//! reference copy with every record sealed by the sender and opened by the receiver with the AEAD
//! QUIC protects its packets with: the suite our TLS offers first (AES-128-GCM), through rustls'
//! QUIC packet keys of the ring provider, as [`super::ceiling`] times them and as quinn calls
//! them. Measured beside QUIC and TCP in the same run, it shows what the cryptography alone costs
//! on this CPU, whatever the transport around it does.
//!
//! Per byte it adds to the TCP copy one seal, one open and the sender's copy of each record's
//! plaintext into the buffer it seals (the message itself stays untouched, as QUIC's sender also
//! leaves it; the kernel then copies from that buffer in cache instead of from the message);
//! nothing else. The sender writes [`RECORDS_PER_WRITE`] sealed records per write
//! call; the receiver reads as much as the socket holds at a time into one fresh buffer sized for
//! the whole message on the wire (as the TCP reference receives), opens each record in place as
//! soon as it is complete, and keeps the plaintext as one piece per record (as QUIC's receiver
//! keeps its packets' pieces, with no reassembly copy). So the lane makes about as many system
//! calls as the TCP copy, fewer than QUIC's one per packet: it is a reference for what an
//! encrypted copy with this AEAD, through this API, costs, not a model of QUIC. QUIC's header
//! protection (one AES block per packet) is left out.
//!
//! The keys are derived as QUIC Initial keys from a connection id the client sends in clear, so
//! they are public: the lane measures the cost of the cryptography and protects nothing.
//!
//! On the wire: the client sends a [`CID_LEN`]-byte connection id once (distinct per connection,
//! so no key and nonce pair repeats within a run), then each message as records
//! `[len: u32 LE | ciphertext | 16-byte tag]`, where `len` counts ciphertext and tag. Every record
//! carries [`RECORD_PLAINTEXT`] bytes (a loopback QUIC packet's payload) except a message's last,
//! which carries the rest, so the receiver knows each record's length before it arrives and
//! checks the prefix against it; the prefix is the associated data and the record's index on the
//! connection its packet number. The receiver acknowledges each whole message with `ACK_OK`, or
//! answers `ACK_REJECTED` and closes the connection when a record has the wrong length or fails
//! to open.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use rustls::quic::PacketKey;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle as RuntimeHandle;
use tokio::task::JoinHandle;

use super::BenchError;
use super::ceiling::{CeilingError, PACKET_PAYLOAD, TAG_LEN, first_quic_suite};

/// Plaintext bytes per record: the payload of the largest QUIC packet on loopback, so that the
/// lane seals and opens pieces of the size QUIC's packets reach there.
pub const RECORD_PLAINTEXT: usize = PACKET_PAYLOAD;
/// Sealed records handed to the socket per write call (about 256 KB, which stays in cache).
pub const RECORDS_PER_WRITE: usize = 4;
/// Bytes of the connection id a client sends first.
const CID_LEN: usize = 8;
/// Bytes of a record's length prefix.
const LEN_BYTES: usize = 4;
/// Acknowledgement of a message whose records all opened.
const ACK_OK: u8 = 1;
/// Answer to a record that broke the bounds or failed to open.
const ACK_REJECTED: u8 = 0xff;

/// Why the TCP + AEAD lane failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AeadLaneError {
    /// No QUIC packet protection for the suite our TLS offers first.
    #[error(transparent)]
    Suite(#[from] CeilingError),
    /// Sealing a record failed (only for records longer than the AEAD allows).
    #[error("sealing record {record} failed: {source}")]
    Seal {
        /// Index of the record on its connection.
        record: u64,
        /// What rustls reported.
        source: rustls::Error,
    },
    /// A record's length prefix is not the length the message requires there.
    #[error("record {record}: length {len}, expected {expected}")]
    RecordLength {
        /// Index of the record on its connection.
        record: u64,
        /// The length the prefix claimed (ciphertext and tag).
        len: usize,
        /// A full record, or the rest of the message, and a tag.
        expected: usize,
    },
    /// A message too large to lay out on the wire on this machine.
    #[error("a {0}-byte message does not fit in memory as records")]
    TooLarge(usize),
    /// A record failed authentication: tampered with, reordered or sealed with another key.
    #[error("record {record} failed to open: {source}")]
    Open {
        /// Index of the record on its connection.
        record: u64,
        /// What rustls reported.
        source: rustls::Error,
    },
    /// The receiver rejected a record of the message (it logs why at debug level).
    #[error("the receiver rejected a record")]
    Rejected,
    /// The receiver opened a different number of plaintext bytes than were sent.
    #[error("{sent} plaintext bytes sent but {received} opened")]
    Count {
        /// Plaintext bytes sent.
        sent: u64,
        /// Plaintext bytes the receiver opened and accounted.
        received: u64,
    },
    /// Socket I/O failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Seals messages into records on one connection.
struct RecordWriter {
    key: Box<dyn PacketKey>,
    next_record: u64,
    /// Up to [`RECORDS_PER_WRITE`] records as the wire carries them (reused, so it stays in
    /// cache).
    batch: Vec<u8>,
}

/// The lane's keys for connection id `cid` as `side` sees them (derived like QUIC Initial keys:
/// public, which is all a measurement needs).
fn lane_keys(cid: &[u8], side: rustls::Side) -> Result<rustls::quic::Keys, AeadLaneError> {
    let (_, suite) = first_quic_suite()?;
    Ok(suite.keys(cid, side, rustls::quic::Version::V1))
}

impl RecordWriter {
    /// The client's sealing key for connection id `cid`.
    fn new(cid: &[u8]) -> Result<Self, AeadLaneError> {
        let keys = lane_keys(cid, rustls::Side::Client)?;
        Ok(Self {
            key: keys.local.packet,
            next_record: 0,
            batch: Vec::with_capacity(RECORDS_PER_WRITE * (LEN_BYTES + RECORD_PLAINTEXT + TAG_LEN)),
        })
    }

    /// Writes `message` as sealed records, [`RECORDS_PER_WRITE`] per write call.
    async fn write_message<W: AsyncWrite + Unpin>(
        &mut self,
        out: &mut W,
        message: &[u8],
    ) -> Result<(), AeadLaneError> {
        for chunks in message.chunks(RECORDS_PER_WRITE * RECORD_PLAINTEXT) {
            self.batch.clear();
            for chunk in chunks.chunks(RECORD_PLAINTEXT) {
                self.seal_record(chunk)?;
            }
            out.write_all(&self.batch).await?;
        }
        Ok(())
    }

    /// Appends `chunk` to the batch as one sealed record.
    fn seal_record(&mut self, chunk: &[u8]) -> Result<(), AeadLaneError> {
        let record = self.next_record;
        let start = self.batch.len();
        // A chunk is at most RECORD_PLAINTEXT (< 2^16) bytes: the prefix cannot overflow.
        let len = (chunk.len() + TAG_LEN) as u32;
        self.batch.extend_from_slice(&len.to_le_bytes());
        self.batch.extend_from_slice(chunk);
        let (prefix, payload) = self.batch[start..].split_at_mut(LEN_BYTES);
        let tag = self
            .key
            .encrypt_in_place(record, prefix, payload)
            .map_err(|source| AeadLaneError::Seal { record, source })?;
        self.batch.extend_from_slice(tag.as_ref());
        self.next_record += 1;
        Ok(())
    }
}

/// Opens the records of one connection.
struct RecordReader {
    key: Box<dyn PacketKey>,
    next_record: u64,
}

impl RecordReader {
    /// The server's opening key for connection id `cid`.
    fn new(cid: &[u8]) -> Result<Self, AeadLaneError> {
        let keys = lane_keys(cid, rustls::Side::Server)?;
        Ok(Self {
            key: keys.remote.packet,
            next_record: 0,
        })
    }

    /// Receives one `size`-byte message: reads what the socket holds, up to the message's end on
    /// the wire, into one buffer reserved once for the whole message (filled without being
    /// zeroed, as the TCP reference receives), and opens every record in place as soon as it is
    /// complete, each length prefix checked first. Returns the plaintext as one piece per record.
    async fn read_message<R: AsyncRead + Unpin>(
        &mut self,
        input: &mut R,
        size: usize,
    ) -> Result<Vec<Bytes>, AeadLaneError> {
        let records = size.div_ceil(RECORD_PLAINTEXT);
        let wire = records
            .checked_mul(LEN_BYTES + TAG_LEN)
            .and_then(|framing| framing.checked_add(size))
            .ok_or(AeadLaneError::TooLarge(size))?;
        let mut buf = BytesMut::with_capacity(wire);
        let mut pieces = Vec::with_capacity(records);
        // Wire offset of the next record to open, and plaintext bytes opened before it.
        let (mut next, mut opened) = (0usize, 0usize);
        while next < wire {
            // `take` keeps a read from running into the next message.
            let want = (wire - buf.len()) as u64;
            if (&mut *input).take(want).read_buf(&mut buf).await? == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
            }
            while let Some(prefix) = buf.get(next..next + LEN_BYTES) {
                let record = self.next_record;
                let mut aad = [0u8; LEN_BYTES];
                aad.copy_from_slice(prefix);
                let len = u32::from_le_bytes(aad) as usize;
                let expected = (size - opened).min(RECORD_PLAINTEXT) + TAG_LEN;
                if len != expected {
                    return Err(AeadLaneError::RecordLength {
                        record,
                        len,
                        expected,
                    });
                }
                let body = next + LEN_BYTES..next + LEN_BYTES + len;
                let Some(sealed) = buf.get_mut(body.clone()) else {
                    break; // not all here yet
                };
                let plain = self
                    .key
                    .decrypt_in_place(record, &aad, sealed)
                    .map_err(|source| AeadLaneError::Open { record, source })?
                    .len();
                pieces.push(body.start..body.start + plain);
                opened += plain;
                next = body.end;
                self.next_record += 1;
            }
        }
        let buf = buf.freeze();
        Ok(pieces.into_iter().map(|piece| buf.slice(piece)).collect())
    }
}

/// A server on the receiver's runtime and one client connection per concurrent message.
pub(super) struct AeadTcpSide {
    server: JoinHandle<()>,
    conns: Vec<(TcpStream, RecordWriter)>,
    /// Plaintext bytes the server has opened and accounted, over all connections.
    received: Arc<AtomicU64>,
    /// Plaintext bytes acknowledged to the clients.
    sent: u64,
}

impl AeadTcpSide {
    /// Starts the server on `receiver`, opens `streams` connections (each with its own id and
    /// keys) and sends one untimed message of `data`.
    pub(super) async fn start(
        streams: usize,
        data: &Bytes,
        receiver: &RuntimeHandle,
    ) -> Result<Self, BenchError> {
        let listener = receiver
            .spawn(TcpListener::bind(("127.0.0.1", 0)))
            .await
            .map_err(super::err)??;
        let addr = listener.local_addr()?;
        let received = Arc::new(AtomicU64::new(0));
        let server = receiver.spawn(serve(listener, data.len(), received.clone()));
        let mut conns = Vec::with_capacity(streams);
        for id in 0..streams as u64 {
            let cid = id.to_le_bytes();
            let mut conn = TcpStream::connect(addr).await?;
            conn.set_nodelay(true)?;
            conn.write_all(&cid).await?;
            conns.push((conn, RecordWriter::new(&cid)?));
        }
        let mut side = Self {
            server,
            conns,
            received,
            sent: 0,
        };
        if let Some((conn, writer)) = side.conns.first_mut() {
            send(conn, writer, data).await?; // warm-up
            side.sent += data.len() as u64;
        }
        Ok(side)
    }

    /// Sends `data` on every connection at once and waits for every acknowledgement.
    pub(super) async fn send_round(&mut self, data: &Bytes) -> Result<(), BenchError> {
        let sends = self.conns.iter_mut().map(|(c, w)| send(c, w, data));
        for result in futures::future::join_all(sends).await {
            result?;
            self.sent += data.len() as u64;
        }
        Ok(())
    }

    /// Checks that the server opened exactly the plaintext bytes acknowledged, then stops it.
    pub(super) fn finish(self) -> Result<(), BenchError> {
        self.server.abort();
        // Each message is accounted before its acknowledgement is written.
        let received = self.received.load(Ordering::Acquire);
        if received != self.sent {
            return Err(AeadLaneError::Count {
                sent: self.sent,
                received,
            }
            .into());
        }
        Ok(())
    }
}

/// Accepts connections; on each, reads the connection id, then receives `size`-byte messages,
/// accounting the plaintext of each and acknowledging it, until the client leaves or a record is
/// rejected.
async fn serve(listener: TcpListener, size: usize, received: Arc<AtomicU64>) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        socket.set_nodelay(true).ok();
        let received = received.clone();
        tokio::spawn(async move {
            let mut cid = [0u8; CID_LEN];
            if socket.read_exact(&mut cid).await.is_err() {
                return;
            }
            let Ok(mut reader) = RecordReader::new(&cid) else {
                socket.write_all(&[ACK_REJECTED]).await.ok();
                return;
            };
            loop {
                match reader.read_message(&mut socket, size).await {
                    Ok(pieces) => {
                        let plaintext: usize = pieces.iter().map(Bytes::len).sum();
                        received.fetch_add(plaintext as u64, Ordering::Release);
                        if socket.write_all(&[ACK_OK]).await.is_err() {
                            return;
                        }
                    }
                    Err(AeadLaneError::Io(_)) => return, // the client left
                    Err(e) => {
                        tracing::debug!("TCP + AEAD bench lane: {e}");
                        socket.write_all(&[ACK_REJECTED]).await.ok();
                        return;
                    }
                }
            }
        });
    }
}

/// Sends one message as sealed records and waits for its acknowledgement.
async fn send(
    conn: &mut TcpStream,
    writer: &mut RecordWriter,
    data: &Bytes,
) -> Result<(), AeadLaneError> {
    writer.write_message(conn, data).await?;
    let mut ack = [0u8; 1];
    conn.read_exact(&mut ack).await?;
    match ack[0] {
        ACK_OK => Ok(()),
        _ => Err(AeadLaneError::Rejected),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A payload that does not end on a record boundary.
    fn payload(size: usize) -> Vec<u8> {
        (0..size).map(|i| (i as u8).wrapping_mul(31)).collect()
    }

    /// The records of `messages` sealed for connection `cid`, as the wire carries them.
    async fn sealed(cid: &[u8], messages: &[&[u8]]) -> Vec<u8> {
        let mut writer = RecordWriter::new(cid).unwrap();
        let mut wire = Vec::new();
        for m in messages {
            writer.write_message(&mut wire, m).await.unwrap();
        }
        wire
    }

    #[tokio::test]
    async fn records_round_trip_across_messages() {
        // More records than one write carries, the last one short.
        let size = (RECORDS_PER_WRITE + 1) * RECORD_PLAINTEXT + 17 * 1000;
        let data = payload(size);
        let wire = sealed(b"conn-id1", &[&data, &data]).await;
        let records = size.div_ceil(RECORD_PLAINTEXT);
        assert_eq!(wire.len(), 2 * (size + records * (LEN_BYTES + TAG_LEN)));
        // Ciphertext, not the plaintext, is on the wire.
        assert_ne!(&wire[LEN_BYTES..LEN_BYTES + 64], &data[..64]);
        let mut reader = RecordReader::new(b"conn-id1").unwrap();
        let mut input = &wire[..];
        for _ in 0..2 {
            let pieces = reader.read_message(&mut input, size).await.unwrap();
            assert_eq!(pieces.len(), records);
            assert!(
                pieces[..records - 1]
                    .iter()
                    .all(|p| p.len() == RECORD_PLAINTEXT)
            );
            assert!(pieces.concat() == data);
        }
        assert!(input.is_empty());
        assert_eq!(reader.next_record, 2 * records as u64);
    }

    #[tokio::test]
    async fn tampered_reordered_or_foreign_records_are_rejected() {
        let size = 2 * RECORD_PLAINTEXT + 5000;
        let data = payload(size);
        let wire = sealed(b"conn-id1", &[&data]).await;
        let open = |wire: Vec<u8>, cid: &'static [u8]| async move {
            let mut reader = RecordReader::new(cid).unwrap();
            reader.read_message(&mut &wire[..], size).await
        };
        let full = LEN_BYTES + RECORD_PLAINTEXT + TAG_LEN;
        // One ciphertext bit flipped in the second record.
        let mut flipped = wire.clone();
        flipped[full + LEN_BYTES + 100] ^= 1;
        let e = open(flipped, b"conn-id1").await.unwrap_err();
        assert!(matches!(e, AeadLaneError::Open { record: 1, .. }), "{e:?}");
        // The tag of the first record altered.
        let mut tag = wire.clone();
        tag[full - 1] ^= 0x80;
        let e = open(tag, b"conn-id1").await.unwrap_err();
        assert!(matches!(e, AeadLaneError::Open { record: 0, .. }), "{e:?}");
        // The two full records swapped: the packet numbers no longer match.
        let mut swapped = wire[full..2 * full].to_vec();
        swapped.extend_from_slice(&wire[..full]);
        swapped.extend_from_slice(&wire[2 * full..]);
        let e = open(swapped, b"conn-id1").await.unwrap_err();
        assert!(matches!(e, AeadLaneError::Open { record: 0, .. }), "{e:?}");
        // Another connection's keys.
        let e = open(wire.clone(), b"conn-id2").await.unwrap_err();
        assert!(matches!(e, AeadLaneError::Open { record: 0, .. }), "{e:?}");
        // Any length but the one the message requires there is refused before the record is
        // opened: huge, one past a record, short (a split record), a bare tag, zero; and the
        // short last record claiming to be full.
        for (at, record, len) in [
            (0, 0, u32::MAX),
            (0, 0, (RECORD_PLAINTEXT + TAG_LEN + 1) as u32),
            (0, 0, (RECORD_PLAINTEXT + TAG_LEN - 1) as u32),
            (0, 0, TAG_LEN as u32),
            (0, 0, 0),
            (2 * full, 2, (RECORD_PLAINTEXT + TAG_LEN) as u32),
        ] {
            let mut bad = wire.clone();
            bad[at..at + LEN_BYTES].copy_from_slice(&len.to_le_bytes());
            let e = open(bad, b"conn-id1").await.unwrap_err();
            assert!(
                matches!(e, AeadLaneError::RecordLength { record: r, len: l, .. }
                    if r == record && l == len as usize),
                "{e:?}"
            );
        }
        // A message cut short is an I/O error, not a short message.
        let e = open(wire[..wire.len() - 1].to_vec(), b"conn-id1")
            .await
            .unwrap_err();
        assert!(matches!(e, AeadLaneError::Io(_)), "{e:?}");
        // The untouched records open.
        assert!(open(wire, b"conn-id1").await.unwrap().concat() == data);
    }

    #[tokio::test]
    async fn lane_over_loopback_accounts_every_byte_and_rejects_tampering() {
        let data = Bytes::from(payload((1 << 20) + 333));
        let mut side = AeadTcpSide::start(2, &data, &RuntimeHandle::current())
            .await
            .unwrap();
        side.send_round(&data).await.unwrap();
        side.send_round(&data).await.unwrap();
        // Warm-up on one connection, then two rounds on two.
        assert_eq!(side.sent, 5 * data.len() as u64);
        let received = side.received.clone();
        side.finish().unwrap();
        assert_eq!(received.load(Ordering::Acquire), 5 * data.len() as u64);

        // A tampered record gets a rejection, and nothing of the message is accounted. One-record
        // messages, so that the server has read everything sent when it answers and closes.
        let small = Bytes::from(payload(5000));
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(AtomicU64::new(0));
        let server = tokio::spawn(serve(listener, small.len(), received.clone()));
        let cid = 7u64.to_le_bytes();
        let mut wire = sealed(&cid, &[&small]).await;
        let last = wire.len() - 1;
        wire[last] ^= 1;
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(&cid).await.unwrap();
        conn.write_all(&wire).await.unwrap();
        let mut ack = [0u8; 1];
        conn.read_exact(&mut ack).await.unwrap();
        assert_eq!(ack[0], ACK_REJECTED);
        // Through the lane's sender, a rejection is an error.
        let mut writer = RecordWriter::new(&cid).unwrap();
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(&[0u8; CID_LEN]).await.unwrap(); // keys that do not match the writer's
        let e = send(&mut conn, &mut writer, &small).await.unwrap_err();
        assert!(matches!(e, AeadLaneError::Rejected), "{e:?}");
        assert_eq!(received.load(Ordering::Acquire), 0);
        // The untampered message on matching keys is accepted and accounted.
        let mut writer = RecordWriter::new(&cid).unwrap();
        let mut conn = TcpStream::connect(addr).await.unwrap();
        conn.write_all(&cid).await.unwrap();
        send(&mut conn, &mut writer, &small).await.unwrap();
        assert_eq!(received.load(Ordering::Acquire), small.len() as u64);
        server.abort();
    }
}
