//! Standard input as a package stream that gives up when no data comes for a
//! while (`fotad-update install -`), so a stalled sender does not hold the
//! install forever: the read fails with `TimedOut` and the install stops at
//! its checkpoint, resumable.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// Standard input, read directly (no buffer of its own, so that waiting for
/// the descriptor to be readable means waiting for data).
#[derive(Debug)]
pub struct TimedStdin {
    file: File,
    timeout: Duration,
    poll_timeout: PollTimeout,
}

impl TimedStdin {
    pub fn new(timeout: Duration) -> io::Result<TimedStdin> {
        let file = File::from(io::stdin().as_fd().try_clone_to_owned()?);
        let poll_timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
        Ok(TimedStdin { file, timeout, poll_timeout })
    }
}

impl Read for TimedStdin {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut fds = [PollFd::new(self.file.as_fd(), PollFlags::POLLIN)];
        loop {
            match poll(&mut fds, self.poll_timeout) {
                Ok(0) => {
                    let secs = self.timeout.as_secs();
                    let why = format!("no data on standard input for {secs} s (--read-timeout, read_timeout_secs)");
                    return Err(io::Error::new(io::ErrorKind::TimedOut, why));
                }
                Ok(_) => return self.file.read(buf),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}
