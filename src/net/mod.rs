//! Bytes on TCP: [`frame`] cuts a byte stream into frames (no I/O), [`auth`] authenticates
//! connections and frames with the cluster's secret (no I/O), [`conns`] runs the
//! non-blocking sockets with mio.

pub mod auth;
pub mod conns;
pub mod frame;
