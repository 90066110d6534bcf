//! The syslog listeners: TCP (`TIDEWATCH_SYSLOG_TCP_BIND`, RFC 6587 octet counting and
//! newline framing, told apart per frame), TLS (`TIDEWATCH_SYSLOG_TLS_BIND`, RFC 5425:
//! the same framing inside TLS, with `TIDEWATCH_SYSLOG_TLS_CERT` and `_KEY`) and UDP
//! (`TIDEWATCH_SYSLOG_UDP_BIND`, one message per datagram), RFC 5424 and RFC 3164. Syslog carries no credential, so the
//! listeners write into the tenant of one ingest API key (`TIDEWATCH_SYSLOG_API_KEY`),
//! checked at start (a bad key stops the start) and again every few seconds: once the key
//! is revoked or its tenant disabled, messages are dropped (and counted) until it is
//! valid again. Messages are batched (up to 1,000 or 200 ms) into the log write path.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;
use tokio_rustls::rustls;

use super::LogsWriter;
use crate::auth::authenticator::{Authenticator, Credential};
use crate::auth::principal::{authorize_tenant, Ingest};
use crate::domain::time::SharedClock;
use crate::domain::TenantId;
use crate::ingest::logs::normalise::{from_line, RecordDefaults};
use crate::ingest::logs::{LogBatch, Origins};

/// The longest message accepted; longer frames are cut (TCP) or dropped whole (UDP).
const MAX_MESSAGE_BYTES: usize = 64 * 1024;
const BATCH_RECORDS: usize = 1_000;
const BATCH_WAIT: Duration = Duration::from_millis(200);
const KEY_RECHECK: Duration = Duration::from_secs(5);
/// A TLS client that has not finished its handshake by then is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the listeners listen; `None` for neither.
#[derive(Debug, Clone, Default)]
pub struct SyslogConfig {
    pub tcp_bind: Option<String>,
    pub udp_bind: Option<String>,
    pub tls_bind: Option<String>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    pub api_key: Option<String>,
}

/// The listeners' addresses once bound (port 0 resolved).
#[derive(Debug, Clone, Default)]
pub struct SyslogAddresses {
    pub tcp: Option<std::net::SocketAddr>,
    pub udp: Option<std::net::SocketAddr>,
    pub tls: Option<std::net::SocketAddr>,
}

/// The TLS listener's acceptor from its PEM certificate chain and key (ring, as the
/// rest of the binary's TLS); a problem names the variable and the file.
fn tls_acceptor(cert: &str, key: &str) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| anyhow::anyhow!("TIDEWATCH_SYSLOG_TLS_CERT {cert}: {e}"))?;
    if chain.is_empty() {
        anyhow::bail!("TIDEWATCH_SYSLOG_TLS_CERT {cert}: no certificate in the file");
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("TIDEWATCH_SYSLOG_TLS_KEY {key}: {e}"))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| anyhow::anyhow!("TIDEWATCH_SYSLOG_TLS_CERT/_KEY: {e}"))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// The key's tenant, re-checked every [`KEY_RECHECK`].
struct KeyCheck {
    auth: Authenticator,
    key: String,
    tenant: TenantId,
    checked: Instant,
    valid: bool,
}

impl KeyCheck {
    async fn verify(auth: &Authenticator, key: &str) -> Result<TenantId, String> {
        let principal = auth
            .resolve(Credential::ApiKey(key.to_owned()))
            .await
            .map_err(|e| e.to_string())?;
        authorize_tenant::<Ingest>(&principal)
            .map(|grant| grant.tenant)
            .map_err(|e| e.to_string())
    }

    async fn tenant(&mut self) -> Option<TenantId> {
        if self.checked.elapsed() >= KEY_RECHECK {
            self.checked = Instant::now();
            let now_valid = match Self::verify(&self.auth, &self.key).await {
                Ok(tenant) => {
                    self.tenant = tenant;
                    true
                }
                Err(why) => {
                    if self.valid {
                        tracing::warn!(%why, "the syslog API key is no longer valid; syslog messages are dropped");
                    }
                    false
                }
            };
            self.valid = now_valid;
        }
        self.valid.then_some(self.tenant)
    }
}

/// One received message and the address it came from (its host when it names none).
struct Received {
    text: String,
    peer: std::net::IpAddr,
}

/// Binds the configured listeners and starts them; an error stops the service's start.
pub async fn start(
    config: SyslogConfig,
    auth: Authenticator,
    writer: LogsWriter,
    clock: SharedClock,
    dropped: prometheus::IntCounter,
) -> anyhow::Result<SyslogAddresses> {
    if config.tcp_bind.is_none() && config.udp_bind.is_none() && config.tls_bind.is_none() {
        return Ok(SyslogAddresses::default());
    }
    // The certificate is read before anything binds: a bad one stops the start.
    let acceptor = match (&config.tls_bind, &config.tls_cert, &config.tls_key) {
        (None, _, _) => None,
        (Some(_), Some(cert), Some(key)) => Some(tls_acceptor(cert, key)?),
        (Some(_), _, _) => anyhow::bail!(
            "TIDEWATCH_SYSLOG_TLS_BIND needs TIDEWATCH_SYSLOG_TLS_CERT and TIDEWATCH_SYSLOG_TLS_KEY"
        ),
    };
    let key = config.api_key.clone().ok_or_else(|| {
        anyhow::anyhow!(
            "TIDEWATCH_SYSLOG_API_KEY must name an ingest API key when a syslog listener is set"
        )
    })?;
    let tenant = KeyCheck::verify(&auth, &key)
        .await
        .map_err(|why| anyhow::anyhow!("TIDEWATCH_SYSLOG_API_KEY: {why}"))?;
    let (sender, receiver) = mpsc::channel::<Received>(10_000);
    let mut addresses = SyslogAddresses::default();
    if let Some(bind) = &config.tcp_bind {
        addresses.tcp =
            Some(listen_tcp(bind, "TIDEWATCH_SYSLOG_TCP_BIND", None, sender.clone()).await?);
    }
    if let (Some(bind), Some(acceptor)) = (&config.tls_bind, acceptor) {
        let tls = Some(acceptor);
        addresses.tls =
            Some(listen_tcp(bind, "TIDEWATCH_SYSLOG_TLS_BIND", tls, sender.clone()).await?);
    }
    if let Some(bind) = &config.udp_bind {
        let socket = tokio::net::UdpSocket::bind(bind)
            .await
            .map_err(|e| anyhow::anyhow!("TIDEWATCH_SYSLOG_UDP_BIND {bind}: {e}"))?;
        addresses.udp = Some(socket.local_addr()?);
        let (sender, dropped) = (sender.clone(), dropped.clone());
        actix_rt::spawn(async move {
            let mut buf = vec![0u8; MAX_MESSAGE_BYTES];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                let text = String::from_utf8_lossy(&buf[..n]).trim_end().to_owned();
                // A datagram cannot wait: when the queue is full it is dropped, counted.
                if sender
                    .try_send(Received {
                        text,
                        peer: peer.ip(),
                    })
                    .is_err()
                {
                    dropped.inc();
                }
            }
        });
    }
    drop(sender);
    let check = KeyCheck {
        auth,
        key,
        tenant,
        checked: Instant::now(),
        valid: true,
    };
    actix_rt::spawn(write_batches(receiver, check, writer, clock, dropped));
    tracing::info!(tcp = ?addresses.tcp, udp = ?addresses.udp, tls = ?addresses.tls, %tenant, "syslog listeners started");
    Ok(addresses)
}

/// Binds `bind` (named `variable` in errors) and serves each connection with
/// [`read_tcp`], inside TLS when `tls` is given (a handshake not done within
/// [`TLS_HANDSHAKE_TIMEOUT`] drops the connection); answers the bound address.
async fn listen_tcp(
    bind: &str,
    variable: &str,
    tls: Option<tokio_rustls::TlsAcceptor>,
    sender: mpsc::Sender<Received>,
) -> anyhow::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| anyhow::anyhow!("{variable} {bind}: {e}"))?;
    let address = listener.local_addr()?;
    actix_rt::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "syslog TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let (sender, tls) = (sender.clone(), tls.clone());
            actix_rt::spawn(async move {
                let Some(acceptor) = tls else {
                    return read_tcp(stream, peer.ip(), sender).await;
                };
                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => read_tcp(tls, peer.ip(), sender).await,
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "syslog TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "syslog TLS handshake timed out"),
                }
            });
        }
    });
    Ok(address)
}

/// Reads frames from one TCP (or TLS) connection: `<length> <message>` (octet counting)
/// or a message ending at a newline, decided per frame by its first byte.
async fn read_tcp<S: AsyncRead + Unpin>(
    mut stream: S,
    peer: std::net::IpAddr,
    sender: mpsc::Sender<Received>,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        // Take every whole frame the buffer holds.
        while let Some((frame, used)) = next_frame(&buf) {
            buf.drain(..used);
            if !frame.is_empty() && sender.send(Received { text: frame, peer }).await.is_err() {
                return;
            }
        }
        if buf.len() > MAX_MESSAGE_BYTES + 16 {
            // A frame that never ends: keep its start, as the limit says.
            let text = String::from_utf8_lossy(&buf[..MAX_MESSAGE_BYTES]).into_owned();
            buf.clear();
            if sender.send(Received { text, peer }).await.is_err() {
                return;
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => {
                let rest = String::from_utf8_lossy(&buf).trim().to_owned();
                if !rest.is_empty() {
                    let _ = sender.send(Received { text: rest, peer }).await;
                }
                return;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The first whole frame of `buf` and the bytes it used, or `None` when more is needed.
pub fn next_frame(buf: &[u8]) -> Option<(String, usize)> {
    let start = buf
        .iter()
        .position(|b| !matches!(b, b'\n' | b'\r' | b' '))?;
    let data = &buf[start..];
    if data[0].is_ascii_digit() {
        let space = data.iter().position(|&b| b == b' ')?;
        if let Some(length) = std::str::from_utf8(&data[..space])
            .ok()
            .and_then(|t| t.parse::<usize>().ok())
        {
            if length <= MAX_MESSAGE_BYTES {
                let end = space + 1 + length;
                if data.len() < end {
                    return None;
                }
                let text = String::from_utf8_lossy(&data[space + 1..end])
                    .trim_end()
                    .to_owned();
                return Some((text, start + end));
            }
        }
    }
    let newline = data.iter().position(|&b| b == b'\n')?;
    let text = String::from_utf8_lossy(&data[..newline])
        .trim_end()
        .to_owned();
    Some((text, start + newline + 1))
}

async fn write_batches(
    mut receiver: mpsc::Receiver<Received>,
    mut check: KeyCheck,
    writer: LogsWriter,
    clock: SharedClock,
    dropped: prometheus::IntCounter,
) {
    let writer = Arc::new(writer);
    loop {
        let Some(first) = receiver.recv().await else {
            return;
        };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + BATCH_WAIT;
        while batch.len() < BATCH_RECORDS {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(next)) => batch.push(next),
                Ok(None) | Err(_) => break,
            }
        }
        let Some(tenant) = check.tenant().await else {
            dropped.inc_by(batch.len() as u64);
            continue;
        };
        let now_ns = clock.now_ms().saturating_mul(1_000_000);
        let records = batch
            .iter()
            .map(|m| {
                from_line(
                    &m.text,
                    &RecordDefaults {
                        now_ns,
                        host: m.peer.to_string(),
                        ..RecordDefaults::default()
                    },
                )
            })
            .collect();
        let logs = LogBatch {
            records,
            origins: Origins::Items,
        };
        if let Err(e) = writer.write(tenant, logs).await {
            tracing::warn!(error = %e, count = batch.len(), "syslog messages not stored");
            dropped.inc_by(batch.len() as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::next_frame;

    #[test]
    fn frames_by_octet_count_or_newline() {
        let buf = b"11 <13>1 hello22 <13>1 - - - - - - two\n<13>three\n<13>par";
        let (a, used) = next_frame(buf).unwrap();
        assert_eq!(a, "<13>1 hello");
        let (b, used2) = next_frame(&buf[used..]).unwrap();
        assert_eq!(b, "<13>1 - - - - - - two");
        let rest = &buf[used + used2..];
        let (c, used3) = next_frame(rest).unwrap();
        assert_eq!(c, "<13>three");
        assert_eq!(next_frame(&rest[used3..]), None, "a partial frame waits");
        assert_eq!(next_frame(b"30 <13>short"), None, "waits for 30 bytes");
        assert_eq!(
            next_frame(b"2026-12-01 plain\n").unwrap().0,
            "2026-12-01 plain"
        );
    }
}
