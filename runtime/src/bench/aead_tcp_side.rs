//! The "TCP + AEAD" lane of the benchmark: a measurement, not a transport. It is the TCP
//! reference copy with every record sealed by the sender and opened by the receiver with the AEAD
//! QUIC protects its packets with: the suite our TLS offers first (AES-128-GCM), through rustls'
//! QUIC packet keys of the ring provider, as [`super::ceiling`] times them and as quinn calls
//! them. Measured beside QUIC and TCP in the same run, it shows what the cryptography alone costs
//! on this CPU, whatever the transport around it does.
//!
//! Per byte it adds to the TCP copy one seal, one open and the sender's in-cache copy of each
//! record into the buffer it seals (the message itself stays untouched, as QUIC's sender also
//! leaves it). The receiver reads every record into one fresh message-sized buffer, as the TCP
//! reference does, and opens it there in place. QUIC's header protection (one AES block per
//! packet) is left out.
//!
//! The keys are derived as QUIC Initial keys from a connection id the client sends in clear, so
//! they are public: the lane measures the cost of the cryptography and protects nothing.
//!
//! On the wire: the client sends a [`CID_LEN`]-byte connection id once (distinct per connection,
//! so no key and nonce pair repeats within a run), then each message as records
//! `[len: u32 LE | ciphertext | 16-byte tag]`, where `len` counts ciphertext and tag. A record
//! carries at most [`RECORD_PLAINTEXT`] bytes (a loopback QUIC packet's payload); its length
//! prefix is the associated data and its index on the connection the packet number. The receiver
//! acknowledges each whole message with [`ACK_OK`], or answers [`ACK_REJECTED`] and closes the
//! connection when a record breaks the length bounds or fails to open.

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
    /// A record's length prefix is outside what the message still allows.
    #[error("record {record}: length {len} outside {min}..={max}")]
    RecordLength {
        /// Index of the record on its connection.
        record: u64,
        /// The length the prefix claimed (ciphertext and tag).
        len: usize,
        /// Shortest allowed: a tag and one byte.
        min: usize,
        /// Longest allowed: a full record, or what remains of the message, and a tag.
        max: usize,
    },
    /// A record failed authentication: tampered with, reordered or sealed with another key.
    #[error("record {record} failed to open: {source}")]
    Open {
        /// Index of the record on its connection.
        record: u64,
        /// What rustls reported.
        source: rustls::Error,
    },
    /// The receiver rejected a record of the message (see its connection's error).
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
    /// One record on the wire: length prefix, ciphertext, tag (reused, so it stays in cache).
    record: Vec<u8>,
}

impl RecordWriter {
    /// The client's sealing key for connection id `cid`.
    fn new(cid: &[u8]) -> Result<Self, AeadLaneError> {
        let (_, suite) = first_quic_suite()?;
        let keys = suite.keys(cid, rustls::Side::Client, rustls::quic::Version::V1);
        Ok(Self {
            key: keys.local.packet,
            next_record: 0,
            record: Vec::with_capacity(LEN_BYTES + RECORD_PLAINTEXT + TAG_LEN),
        })
    }

    /// Writes `message` as sealed records, one write per record.
    async fn write_message<W: AsyncWrite + Unpin>(
        &mut self,
        out: &mut W,
        message: &[u8],
    ) -> Result<(), AeadLaneError> {
        for chunk in message.chunks(RECORD_PLAINTEXT) {
            let index = self.next_record;
            // A chunk is at most RECORD_PLAINTEXT (< 2^16) bytes: the prefix cannot overflow.
            let len = (chunk.len() + TAG_LEN) as u32;
            self.record.clear();
            self.record.extend_from_slice(&len.to_le_bytes());
            self.record.extend_from_slice(chunk);
            let (prefix, payload) = self.record.split_at_mut(LEN_BYTES);
            let tag = self
                .key
                .encrypt_in_place(index, prefix, payload)
                .map_err(|source| AeadLaneError::Seal {
                    record: index,
                    source,
                })?;
            self.record.extend_from_slice(tag.as_ref());
            self.next_record += 1;
            out.write_all(&self.record).await?;
        }
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
        let (_, suite) = first_quic_suite()?;
        let keys = suite.keys(cid, rustls::Side::Server, rustls::quic::Version::V1);
        Ok(Self {
            key: keys.remote.packet,
            next_record: 0,
        })
    }

    /// Reads records until `size` plaintext bytes have opened, into one fresh buffer reserved
    /// once and filled by the socket reads without being zeroed (as the TCP reference receives);
    /// each record is opened where it landed and its tag cut off, so the next one lands right
    /// after its plaintext. Every length is checked before any byte of the record is read.
    async fn read_message<R: AsyncRead + Unpin>(
        &mut self,
        input: &mut R,
        size: usize,
    ) -> Result<Bytes, AeadLaneError> {
        // Room for the last record's tag before it is cut off.
        let mut message = BytesMut::with_capacity(size.saturating_add(TAG_LEN));
        while message.len() < size {
            let record = self.next_record;
            let mut prefix = [0u8; LEN_BYTES];
            input.read_exact(&mut prefix).await?;
            let len = u32::from_le_bytes(prefix) as usize;
            let (min, max) = (
                TAG_LEN + 1,
                (size - message.len()).min(RECORD_PLAINTEXT) + TAG_LEN,
            );
            if !(min..=max).contains(&len) {
                return Err(AeadLaneError::RecordLength {
                    record,
                    len,
                    min,
                    max,
                });
            }
            let start = message.len();
            while message.len() < start + len {
                // `take` keeps a read from running into the next record.
                let want = (start + len - message.len()) as u64;
                if (&mut *input).take(want).read_buf(&mut message).await? == 0 {
                    return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
                }
            }
            let plain = self
                .key
                .decrypt_in_place(record, &prefix, &mut message[start..])
                .map_err(|source| AeadLaneError::Open { record, source })?
                .len();
            message.truncate(start + plain);
            self.next_record += 1;
        }
        Ok(message.freeze())
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
                    Ok(message) => {
                        received.fetch_add(message.len() as u64, Ordering::Release);
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
        let size = 3 * RECORD_PLAINTEXT / 2 + 17 * 1000;
        let data = payload(size);
        let wire = sealed(b"conn-id1", &[&data, &data]).await;
        let records = size.div_ceil(RECORD_PLAINTEXT);
        assert_eq!(wire.len(), 2 * (size + records * (LEN_BYTES + TAG_LEN)));
        // Ciphertext, not the plaintext, is on the wire.
        assert_ne!(&wire[LEN_BYTES..LEN_BYTES + 64], &data[..64]);
        let mut reader = RecordReader::new(b"conn-id1").unwrap();
        let mut input = &wire[..];
        for _ in 0..2 {
            let got = reader.read_message(&mut input, size).await.unwrap();
            assert_eq!(got.len(), size);
            assert!(got[..] == data[..]);
        }
        assert!(input.is_empty());
        assert_eq!(reader.next_record, 2 * records as u64);
    }

    #[tokio::test]
    async fn tampered_reordered_or_foreign_records_are_rejected() {
        let size = RECORD_PLAINTEXT + 5000;
        let data = payload(size);
        let wire = sealed(b"conn-id1", &[&data]).await;
        let open = |wire: Vec<u8>, cid: &'static [u8]| async move {
            let mut reader = RecordReader::new(cid).unwrap();
            reader.read_message(&mut &wire[..], size).await
        };
        // One ciphertext bit flipped in the second record.
        let mut flipped = wire.clone();
        let second = LEN_BYTES + RECORD_PLAINTEXT + TAG_LEN;
        flipped[second + LEN_BYTES + 100] ^= 1;
        let e = open(flipped, b"conn-id1").await.unwrap_err();
        assert!(matches!(e, AeadLaneError::Open { record: 1, .. }), "{e:?}");
        // The tag of the first record altered.
        let mut tag = wire.clone();
        tag[second - 1] ^= 0x80;
        let e = open(tag, b"conn-id1").await.unwrap_err();
        assert!(matches!(e, AeadLaneError::Open { record: 0, .. }), "{e:?}");
        // The two records swapped: the packet numbers no longer match.
        let mut swapped = wire[second..].to_vec();
        swapped.extend_from_slice(&wire[..second]);
        let e = open(swapped, b"conn-id1").await.unwrap_err();
        assert!(matches!(e, AeadLaneError::Open { record: 0, .. }), "{e:?}");
        // Another connection's keys.
        let e = open(wire.clone(), b"conn-id2").await.unwrap_err();
        assert!(matches!(e, AeadLaneError::Open { record: 0, .. }), "{e:?}");
        // A shorter length prefix is authenticated data: the record no longer opens.
        let mut shorter = wire.clone();
        shorter[..LEN_BYTES]
            .copy_from_slice(&((RECORD_PLAINTEXT + TAG_LEN - 1) as u32).to_le_bytes());
        let e = open(shorter, b"conn-id1").await.unwrap_err();
        assert!(matches!(e, AeadLaneError::Open { record: 0, .. }), "{e:?}");
        // Lengths past a record, past the message or below a tag are refused before reading.
        for len in [
            u32::MAX,
            (RECORD_PLAINTEXT + TAG_LEN + 1) as u32,
            TAG_LEN as u32,
            0,
        ] {
            let mut bad = wire.clone();
            bad[..LEN_BYTES].copy_from_slice(&len.to_le_bytes());
            let e = open(bad, b"conn-id1").await.unwrap_err();
            assert!(
                matches!(e, AeadLaneError::RecordLength { record: 0, len: l, .. } if l == len as usize),
                "{e:?}"
            );
        }
        // A message cut short is an I/O error, not a short message.
        let e = open(wire[..wire.len() - 1].to_vec(), b"conn-id1")
            .await
            .unwrap_err();
        assert!(matches!(e, AeadLaneError::Io(_)), "{e:?}");
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
