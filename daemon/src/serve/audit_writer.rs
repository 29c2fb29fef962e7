//! API decisions into the audit log, durable before the response, in group
//! commits: concurrent requests queue their records; one blocking thread
//! takes everything queued, appends it with a single fsync, then answers
//! each request. Under load many decisions share one fsync; alone, a
//! decision waits for its own.

use crate::audit::{AuditError, AuditRecord, Ingestor};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Most records sealed by one fsync.
const MAX_BATCH: usize = 4096;

type Reply = oneshot::Sender<Result<AuditRecord, String>>;

/// Handle to the writer thread.
#[derive(Debug, Clone)]
pub(crate) struct AuditWriter {
    tx: mpsc::UnboundedSender<(AuditRecord, Reply)>,
}

impl AuditWriter {
    /// Start the writer thread over the shared ingester.
    pub(crate) fn start(ingestor: Arc<Mutex<Ingestor>>) -> AuditWriter {
        let (tx, mut rx) = mpsc::unbounded_channel::<(AuditRecord, Reply)>();
        let spawned = std::thread::Builder::new()
            .name("rampart-audit".into())
            .spawn(move || {
                while let Some(first) = rx.blocking_recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(item) => batch.push(item),
                            Err(_) => break,
                        }
                    }
                    let (records, replies): (Vec<AuditRecord>, Vec<Reply>) =
                        batch.into_iter().unzip();
                    let sealed: Result<Vec<AuditRecord>, AuditError> = match ingestor.lock() {
                        Ok(mut ing) => ing.append_api_decisions(records),
                        Err(_) => Err(AuditError::Io {
                            what: "audit log".into(),
                            source: std::io::Error::other("poisoned"),
                        }),
                    };
                    match sealed {
                        Ok(recs) => {
                            for (r, reply) in recs.into_iter().zip(replies) {
                                let _ = reply.send(Ok(r));
                            }
                        }
                        Err(e) => {
                            let msg = e.to_string();
                            for reply in replies {
                                let _ = reply.send(Err(msg.clone()));
                            }
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start the audit writer: {e}");
        }
        AuditWriter { tx }
    }

    /// Append `record`; resolves once it is fsynced (or with the error).
    pub(crate) async fn append(&self, record: AuditRecord) -> Result<AuditRecord, String> {
        let (reply, done) = oneshot::channel();
        self.tx
            .send((record, reply))
            .map_err(|_| "the audit writer stopped".to_string())?;
        done.await
            .map_err(|_| "the audit writer stopped".to_string())?
    }
}
