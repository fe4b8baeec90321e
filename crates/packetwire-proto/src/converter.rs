//! Converters between wire values (what a serializer produces and consumes) and application
//! packets (what your code handles). EasyNetwork's `AbstractPacketConverterComposite`.
//!
//! A converter has two one-way halves: [`SendConverter`] turns an application packet into a wire
//! value, [`RecvConverter`] turns a received wire value into an application packet and may refuse
//! it with a [`ConversionError`]. One type usually implements both; [`Stapled`] joins two
//! different halves (EasyNetwork's `StapledPacketConverter`), for protocols whose requests and
//! responses differ. [`NoConverter`] passes values through untouched and costs nothing.
//!
//! ```
//! use packetwire_proto::{ConversionError, RecvConverter, SendConverter};
//!
//! /// A user id travels as a JSON number but must be positive.
//! struct UserId(u32);
//! struct UserIdConverter;
//!
//! impl SendConverter<serde_json::Value> for UserIdConverter {
//!     type Sent = UserId;
//!     fn to_wire<R>(
//!         &self,
//!         packet: &UserId,
//!         with: impl FnOnce(&serde_json::Value) -> R,
//!     ) -> Result<R, ConversionError> {
//!         Ok(with(&serde_json::Value::from(packet.0)))
//!     }
//! }
//!
//! impl RecvConverter<serde_json::Value> for UserIdConverter {
//!     type Received = UserId;
//!     fn from_wire(&self, wire: serde_json::Value) -> Result<UserId, ConversionError> {
//!         match wire.as_u64() {
//!             Some(n @ 1..=0xFFFF_FFFF) => Ok(UserId(n as u32)),
//!             _ => Err(ConversionError::new(format!("not a user id: {wire}"))),
//!         }
//!     }
//! }
//!
//! assert!(UserIdConverter.from_wire(serde_json::json!(0)).is_err());
//! assert_eq!(UserIdConverter.from_wire(serde_json::json!(7)).unwrap().0, 7);
//! ```

use crate::error::ConversionError;

/// Turns application packets into wire values before they are serialized.
pub trait SendConverter<Wire: ?Sized>: Send + Sync {
    /// The application packet type that is sent.
    type Sent: ?Sized;

    /// Converts `packet` and passes the wire value to `with`.
    ///
    /// The continuation lets a converter lend a borrowed value (as [`NoConverter`] does) or a
    /// temporary one, without requiring wire values to be `Clone`.
    fn to_wire<R>(
        &self,
        packet: &Self::Sent,
        with: impl FnOnce(&Wire) -> R,
    ) -> Result<R, ConversionError>;
}

/// Turns deserialized wire values into application packets.
pub trait RecvConverter<Wire>: Send + Sync {
    /// The application packet type that is received.
    type Received;

    /// Converts a received wire value; a value that is not a valid packet is a
    /// [`ConversionError`] (the connection goes on with the next packet).
    #[allow(clippy::wrong_self_convention)] // EasyNetwork's name; converters are stateful
    fn from_wire(&self, wire: Wire) -> Result<Self::Received, ConversionError>;
}

/// The identity converter: application packets are the wire values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoConverter;

impl<Wire: ?Sized> SendConverter<Wire> for NoConverter {
    type Sent = Wire;

    #[inline]
    fn to_wire<R>(
        &self,
        packet: &Wire,
        with: impl FnOnce(&Wire) -> R,
    ) -> Result<R, ConversionError> {
        Ok(with(packet))
    }
}

impl<Wire> RecvConverter<Wire> for NoConverter {
    type Received = Wire;

    #[inline]
    fn from_wire(&self, wire: Wire) -> Result<Wire, ConversionError> {
        Ok(wire)
    }
}

/// Joins a send-side converter and a receive-side converter (EasyNetwork's
/// `StapledPacketConverter`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Stapled<Tx, Rx> {
    /// Converts what is sent.
    pub send: Tx,
    /// Converts what is received.
    pub recv: Rx,
}

impl<Tx, Rx> Stapled<Tx, Rx> {
    /// Joins `send` and `recv`.
    pub fn new(send: Tx, recv: Rx) -> Self {
        Self { send, recv }
    }
}

impl<Wire: ?Sized, Tx: SendConverter<Wire>, Rx: Send + Sync> SendConverter<Wire>
    for Stapled<Tx, Rx>
{
    type Sent = Tx::Sent;

    fn to_wire<R>(
        &self,
        packet: &Self::Sent,
        with: impl FnOnce(&Wire) -> R,
    ) -> Result<R, ConversionError> {
        self.send.to_wire(packet, with)
    }
}

impl<Wire, Tx: Send + Sync, Rx: RecvConverter<Wire>> RecvConverter<Wire> for Stapled<Tx, Rx> {
    type Received = Rx::Received;

    fn from_wire(&self, wire: Wire) -> Result<Self::Received, ConversionError> {
        self.recv.from_wire(wire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Upper;
    impl SendConverter<String> for Upper {
        type Sent = str;
        fn to_wire<R>(
            &self,
            p: &str,
            with: impl FnOnce(&String) -> R,
        ) -> Result<R, ConversionError> {
            Ok(with(&p.to_uppercase()))
        }
    }
    struct Len;
    impl RecvConverter<String> for Len {
        type Received = usize;
        fn from_wire(&self, w: String) -> Result<usize, ConversionError> {
            if w.is_empty() {
                Err(ConversionError::new("empty"))
            } else {
                Ok(w.len())
            }
        }
    }

    #[test]
    fn stapled_uses_each_half() {
        let c = Stapled::new(Upper, Len);
        let sent = SendConverter::<String>::to_wire(&c, "abc", |w| w.clone()).unwrap();
        assert_eq!(sent, "ABC");
        assert_eq!(c.from_wire("four".to_owned()).unwrap(), 4);
        assert!(c.from_wire(String::new()).is_err());
    }

    #[test]
    fn identity_lends_the_packet() {
        let p = vec![1u8, 2, 3];
        let ptr = SendConverter::<Vec<u8>>::to_wire(&NoConverter, &p, |w| w.as_ptr()).unwrap();
        assert_eq!(ptr, p.as_ptr());
    }
}
