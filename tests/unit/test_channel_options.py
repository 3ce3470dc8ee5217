"""Client keepalive must never trip the server's ping enforcement (STYLE.md "Async"), and keepalive
options do what their names say."""

from __future__ import annotations

from effectd._channel import channel_options, server_options
from effectd._rpc import SERVER_MIN_HEARTBEAT_S, heartbeat_ms, stall_after


def test_client_keepalive_is_within_what_the_server_permits() -> None:
    client = dict(channel_options())
    server = dict(server_options())
    min_interval = int(server["grpc.http2.min_recv_ping_interval_without_data_ms"])
    # Pings no more often than the server accepts, with or without calls (the server permits both), so a
    # healthy client never collects the strikes that end in GOAWAY too_many_pings.
    assert int(client["grpc.keepalive_time_ms"]) >= min_interval
    assert server["grpc.keepalive_permit_without_calls"] == client["grpc.keepalive_permit_without_calls"] == 1
    assert int(server["grpc.http2.max_ping_strikes"]) >= 1
    # Only keepalive pings: no extra pings on idle connections (max_pings_without_data 0 means no limit
    # on the client side, so the interval above is what bounds them).
    assert client["grpc.http2.max_pings_without_data"] == 0
    assert client["grpc.max_receive_message_length"] == server["grpc.max_send_message_length"]
    assert client["grpc.max_send_message_length"] == server["grpc.max_receive_message_length"]


def test_keepalive_timeouts_are_the_ping_timeouts() -> None:
    # In this grpcio a ping's ack is awaited for grpc.http2.ping_timeout_ms (60 s by default), whatever
    # grpc.keepalive_timeout_ms says; measured before this: a black-holed link took 90 s to fail, not 40.
    for options in (dict(channel_options()), dict(server_options())):
        assert options["grpc.http2.ping_timeout_ms"] == options["grpc.keepalive_timeout_ms"]
        assert int(options["grpc.keepalive_timeout_ms"]) < int(options["grpc.keepalive_time_ms"])


def test_heartbeats_notice_a_dead_link_before_keepalive_does() -> None:
    client = dict(channel_options())
    keepalive_s = (int(client["grpc.keepalive_time_ms"]) + int(client["grpc.http2.ping_timeout_ms"])) / 1000
    assert stall_after(heartbeat_ms(None)) == 11.0 < keepalive_s == 40.0
    # A replacement channel gets its own connection, not the dead one from a process-wide pool.
    assert client["grpc.use_local_subchannel_pool"] == 1


def test_the_sdk_knows_the_server_heartbeat_minimum() -> None:
    from effectd_server.config import StreamsConfig

    # The SDK's dead-link bound counts intervals as the server applies them (raised to its minimum).
    assert StreamsConfig().min_heartbeat_interval_s == SERVER_MIN_HEARTBEAT_S


def test_tests_get_no_port_reuse_by_default() -> None:
    assert dict(server_options())["grpc.so_reuseport"] == 0
    assert dict(server_options(reuse_port=True))["grpc.so_reuseport"] == 1


def test_several_replicas_make_one_target() -> None:
    from effectd._channel import channel_target

    assert channel_target("127.0.0.1:50551") == "127.0.0.1:50551"
    assert channel_target(["127.0.0.1:1", "127.0.0.2:2"]) == "ipv4:127.0.0.1:1,127.0.0.2:2"
    assert channel_target(["[::1]:5"]) == "ipv6:[::1]:5"
    assert channel_target(["localhost:7"]).endswith(":7")
    import pytest

    with pytest.raises(ValueError):
        channel_target(["no-port"])
