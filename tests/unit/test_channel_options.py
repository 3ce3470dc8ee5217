"""Client keepalive must never trip the server's ping enforcement (STYLE.md "Async")."""

from __future__ import annotations

from effectd._channel import channel_options, server_options


def test_client_keepalive_is_within_what_the_server_permits() -> None:
    client = dict(channel_options())
    server = dict(server_options())
    assert int(client["grpc.keepalive_time_ms"]) >= int(server["grpc.http2.min_recv_ping_interval_without_data_ms"])
    assert client["grpc.max_receive_message_length"] == server["grpc.max_send_message_length"]
    assert client["grpc.max_send_message_length"] == server["grpc.max_receive_message_length"]


def test_tests_get_no_port_reuse_by_default() -> None:
    assert dict(server_options())["grpc.so_reuseport"] == 0
    assert dict(server_options(reuse_port=True))["grpc.so_reuseport"] == 1
