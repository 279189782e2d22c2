//! Bytes on TCP: [`frame`] cuts a byte stream into frames (no I/O), [`conns`] runs the
//! non-blocking sockets with mio.

pub mod conns;
pub mod frame;
