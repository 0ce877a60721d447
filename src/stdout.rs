//! Standard output for reports: a reader that goes away (`subsweep status | head -3`) ends the
//! output, not the command. Writes after the pipe closed are dropped quietly, so the command
//! finishes its work and exits as it would have.

use std::io::{self, Write};

/// A writer that treats a broken pipe as the end of its output.
pub struct QuietPipe<W> {
    inner: W,
    closed: bool,
}

impl QuietPipe<io::Stdout> {
    /// Standard output.
    pub fn stdout() -> Self {
        QuietPipe::new(io::stdout())
    }
}

impl<W: Write> QuietPipe<W> {
    pub fn new(inner: W) -> Self {
        QuietPipe {
            inner,
            closed: false,
        }
    }

    /// Whether the reader went away.
    pub fn closed(&self) -> bool {
        self.closed
    }

    fn absorb<T>(&mut self, result: io::Result<T>, otherwise: T) -> io::Result<T> {
        match result {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(otherwise)
            }
            other => other,
        }
    }
}

impl<W: Write> Write for QuietPipe<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        let result = self.inner.write(buf);
        self.absorb(result, buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let result = self.inner.flush();
        self.absorb(result, ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
    }

    #[test]
    fn a_closed_reader_ends_the_output_quietly() {
        let mut out = QuietPipe::new(Closed);
        assert!(writeln!(out, "first").is_ok());
        assert!(out.closed());
        assert!(writeln!(out, "second").is_ok());
        assert!(out.flush().is_ok());
    }

    #[test]
    fn other_errors_still_fail() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut out = QuietPipe::new(Full);
        assert!(writeln!(out, "x").is_err());
        assert!(!out.closed());
    }
}
