//! The TCP reference of the benchmark: a plain tokio copy over loopback, no TLS. Small messages
//! are echoed like an ask; large ones are received whole into a fresh buffer and acknowledged with
//! one byte, like a tell.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle as RuntimeHandle;
use tokio::task::JoinHandle;

use super::{BenchError, LatencyStats, TransportBenchOptions, err, stats};

/// A server on `receiver`'s runtime and one client connection per concurrent message.
pub(super) struct TcpSide {
    server: JoinHandle<()>,
    conns: Vec<TcpStream>,
}

impl TcpSide {
    /// Starts the server, times `options.asks` 8-byte ping-pongs on one connection (after 200
    /// untimed ones), opens `streams` connections and sends one untimed large message.
    pub(super) async fn start(
        options: &TransportBenchOptions,
        streams: usize,
        data: &Bytes,
        receiver: &RuntimeHandle,
    ) -> Result<(Self, LatencyStats), BenchError> {
        let listener = receiver
            .spawn(TcpListener::bind(("127.0.0.1", 0)))
            .await
            .map_err(err)??;
        let addr = listener.local_addr()?;
        let server = receiver.spawn(serve(listener, data.len()));
        let mut ping_conn = TcpStream::connect(addr).await?;
        ping_conn.set_nodelay(true)?;
        let mut samples = Vec::with_capacity(options.asks);
        for i in 0..(200 + options.asks) as u64 {
            let t = Instant::now();
            ping_conn.write_all(&[0]).await?;
            ping_conn.write_all(&i.to_le_bytes()).await?;
            let mut pong = [0u8; 8];
            ping_conn.read_exact(&mut pong).await?;
            if i >= 200 {
                samples.push(t.elapsed());
            }
        }
        let mut conns = Vec::new();
        for _ in 0..streams {
            let c = TcpStream::connect(addr).await?;
            c.set_nodelay(true)?;
            conns.push(c);
        }
        let mut side = Self { server, conns };
        if let Some(first) = side.conns.first_mut() {
            send(first, data).await?; // warm-up
        }
        Ok((side, stats(samples)))
    }

    /// Sends `data` on every connection at once and waits for every acknowledgement.
    pub(super) async fn send_round(&mut self, data: &Bytes) -> Result<(), BenchError> {
        for result in futures::future::join_all(self.conns.iter_mut().map(|c| send(c, data))).await
        {
            result?;
        }
        Ok(())
    }

    /// Stops accepting; the connection tasks end as the client connections drop.
    pub(super) fn finish(self) {
        self.server.abort();
    }
}

/// Accepts connections and answers each message on them: kind byte 0 is an 8-byte ping to echo,
/// anything else a `size`-byte message to receive and acknowledge.
async fn serve(listener: TcpListener, size: usize) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        socket.set_nodelay(true).ok();
        tokio::spawn(async move {
            let mut kind = [0u8; 1];
            while socket.read_exact(&mut kind).await.is_ok() {
                if kind[0] == 0 {
                    let mut ping = [0u8; 8];
                    if socket.read_exact(&mut ping).await.is_err()
                        || socket.write_all(&ping).await.is_err()
                    {
                        return;
                    }
                } else if receive(&mut socket, size).await.is_err()
                    || socket.write_all(&[1]).await.is_err()
                {
                    return;
                }
            }
        });
    }
}

/// Receives one `size`-byte message into a fresh buffer, as the QUIC receiver does: reserved
/// once, filled by the socket reads without being zeroed first.
async fn receive(socket: &mut TcpStream, size: usize) -> std::io::Result<Bytes> {
    let mut buf = BytesMut::with_capacity(size);
    while buf.len() < size {
        // `take` keeps a read from running into the next message.
        let want = (size - buf.len()) as u64;
        if (&mut *socket).take(want).read_buf(&mut buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(buf.freeze())
}

/// Sends one large message and waits for the one-byte acknowledgement.
async fn send(conn: &mut TcpStream, data: &Bytes) -> std::io::Result<()> {
    conn.write_all(&[1]).await?;
    conn.write_all(data).await?;
    let mut ack = [0u8; 1];
    conn.read_exact(&mut ack).await?;
    Ok(())
}
