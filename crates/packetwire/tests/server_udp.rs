//! The UDP packet server: lifecycle, per-client queues and ordering, refused datagrams,
//! errors, many clients, shutdown; every test on tokio and smol.
#![cfg(all(any(feature = "tokio", feature = "smol"), feature = "json"))]

mod common;
mod server_dgram_common;

use common::runtime_tests;
use server_dgram_common::Transport::Udp;

runtime_tests! {
    async fn lifecycle(rt) { server_dgram_common::lifecycle(rt, Udp).await }
    async fn bad_datagram_then_good(rt) { server_dgram_common::bad_datagram_then_good(rt, Udp).await }
    async fn ordering_and_queueing(rt) { server_dgram_common::ordering_and_queueing(rt, Udp).await }
    async fn bounded_queue_drops_the_oldest(rt) {
        server_dgram_common::bounded_queue_drops_the_oldest(rt, Udp).await
    }
    async fn refused_and_failing(rt) { server_dgram_common::refused_and_failing(rt, Udp).await }
    async fn many_clients(rt) { server_dgram_common::many_clients(rt, Udp).await }
    async fn shutdown_with_queued_datagrams(rt) {
        server_dgram_common::shutdown_with_queued_datagrams(rt, Udp).await
    }
}
