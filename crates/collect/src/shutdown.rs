//! Graceful shutdown: a watch channel the server flips once. A collector stops between
//! windows, or abandons the window in flight without committing any of it.

use tokio::sync::watch;

/// The collector's side: cheap to clone, waits for the signal.
#[derive(Debug, Clone)]
pub struct Shutdown {
    receiver: watch::Receiver<bool>,
}

/// The server's side: [`ShutdownTrigger::shutdown`] stops every collector holding a
/// [`Shutdown`] from the same channel.
#[derive(Debug)]
pub struct ShutdownTrigger {
    sender: watch::Sender<bool>,
}

impl Shutdown {
    pub fn channel() -> (ShutdownTrigger, Shutdown) {
        let (sender, receiver) = watch::channel(false);
        (ShutdownTrigger { sender }, Shutdown { receiver })
    }

    /// A signal that never fires.
    pub fn never() -> Shutdown {
        let (_, shutdown) = Shutdown::channel();
        shutdown
    }

    pub fn is_requested(&self) -> bool {
        *self.receiver.borrow()
    }

    /// Completes when shutdown is requested; never if the trigger is dropped unfired.
    pub async fn requested(&mut self) {
        loop {
            if *self.receiver.borrow_and_update() {
                return;
            }
            if self.receiver.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

impl From<watch::Receiver<bool>> for Shutdown {
    fn from(receiver: watch::Receiver<bool>) -> Self {
        Shutdown { receiver }
    }
}

impl ShutdownTrigger {
    pub fn shutdown(&self) {
        self.sender.send_replace(true);
    }
}
