"""One peer's nats-server configuration: its own JetStream domain, an account per linked peer, leaf links.

A peer is sovereign: its streams, durable consumers and leases live in its own JetStream (domain = the
peer id), and nothing another peer sends can reach them. Leaf nodes in one shared account would
propagate every subscription across the link (a stream on B listening on `jetflow.booking.request`
would capture A's bookings), and three peers linked pairwise would form a loop that nats-server breaks
by dropping links. So the engine and its JetStream live in the account `jetflow`, and every linked
peer X gets an account `peer-X` of its own, to which X's leaf connection is bound and which holds
nothing but two service mappings:

- `jetflow` exports `jetflow.peer.<us>.from.*.>` and `peer-X` imports `jetflow.peer.<us>.from.<X>.>` of it
  `to` `jetflow.peer.<us>.>`: X's requests addressed to us reach our engine with X's id in the subject,
  written by this import and not by X (engine/peers.py takes the requester from it), and their replies
  go back (nats-server maps the reply subject);
- `peer-X` exports `jetflow.peer.<X>.>` and `jetflow` imports it: our requests to X leave on X's link.

and, for the federated catalog (docs/federation.md), a read-only view of our public catalog and nothing more. X's
source uses a durable push consumer of our public stream that our engine creates for X (`reader-<X>`, engine/streams.py
`public_consumer_config`) with X's deliver subject in it, so X chooses no deliver subject and creates no consumer:

- `jetflow` exports to `peer-X` only the one JetStream API call such a source makes, resetting X's consumer
  (`$JS.API.CONSUMER.RESET.JETFLOW_PUBLIC_<us>.reader-<X>`), which `peer-X` imports as `jetflow.public.api.<us>
  .CONSUMER.RESET...`: the API prefix X's source uses (`external.api`; a `$JS.<us>.API` prefix does not cross an
  account's leaf link, nats-server keeps domain API subjects to itself); the flow-control replies of that consumer
  (`$JS.FC.JETFLOW_PUBLIC_<us>.reader-<X>.>`); and its deliver subject (`jetflow.public.deliver.<us>.<X>`, a stream
  export);
- `peer-X` exports the same three for X's consumer of its public stream kept for us, and `jetflow` imports them: our
  JetStream sources X's.

Nothing else crosses: not the stream subjects, not `jetflow.ctl.>`, no other JetStream API call of either
domain (no consumer create, no stream info, create or delete, no message get, no other reader's consumer), not
another peer's requests (a link carries only the two peers' own subjects, so there is no relaying and no loop:
each pair's accounts form their own tree). Leaf connections authenticate with user = the connecting peer's id and its
password; an unknown user or a wrong password is refused by nats-server. Local clients (the engine, operators
on 127.0.0.1) connect without credentials as the user `jetflow` (`no_auth_user`), as they did before peers
had servers of their own.

`render` is pure (settings in, text out), so `jetflow nats-config` prints exactly what `jetflow up` runs.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from engine.streams import public_consumer, public_stream
from schemas import subjects

if TYPE_CHECKING:
    from pathlib import Path

    from engine.core.settings import LeafSettings

#: The account of the engine, its JetStream and its local clients.
JETFLOW_ACCOUNT = "jetflow"
#: The user local clients are (they connect without credentials).
LOCAL_USER = "jetflow"


def peer_account(peer_id: str) -> str:
    """The account a linked peer's leaf connection is bound to."""
    return f"peer-{peer_id}"


def requests_to(peer_id: str) -> str:
    """Every request addressed to `peer_id`: `jetflow.peer.<id>.>`."""
    return f"{subjects.PEER_PREFIX}.{peer_id}.>"


def _reset(owner: str, reader: str, prefix: str = "$JS.API") -> str:
    """The one JetStream API call `reader`'s source makes on `owner`'s server: reset the consumer kept for it."""
    return f"{prefix}.CONSUMER.RESET.{public_stream(owner)}.{public_consumer(reader)}"


def _flow_control(owner: str, reader: str) -> str:
    return f"$JS.FC.{public_stream(owner)}.{public_consumer(reader)}.>"


def requests_from(peer_id: str, sender: str) -> str:
    """`sender`'s requests as they reach `peer_id`'s engine over their link: `jetflow.peer.<id>.from.<sender>.>`."""
    return subjects.peer_link(peer_id, sender)


def _q(value: object) -> str:
    """A quoted string in nats-server's configuration syntax (which reads JSON strings)."""
    return json.dumps(str(value))


def _tls(leaf: LeafSettings, *, serving: bool) -> list[str]:
    lines: list[str] = []
    if leaf.tls_cert is not None and leaf.tls_key is not None:
        lines += [f"cert_file: {_q(leaf.tls_cert)}", f"key_file: {_q(leaf.tls_key)}"]
    if leaf.tls_ca is not None:
        lines.append(f"ca_file: {_q(leaf.tls_ca)}")
        if serving:
            lines.append("verify: true")
    return [f"tls {{ {', '.join(lines)} }}"] if lines else []


def render(peer_id: str, leaf: LeafSettings, *, port: int, store_dir: Path, host: str = "127.0.0.1") -> str:
    """The configuration of `peer_id`'s nats-server: client port, JetStream, accounts, leaf links."""
    subjects.peer(peer_id, "leaf", "link")  # the id is a subject token (settings check it too)
    if peer_id in leaf.linked:
        raise ValueError(f"peer {peer_id!r} cannot have a leaf link to itself")
    if leaf.port is not None and not leaf.peers:
        # Without users nats-server would accept any leaf connection, into the jetflow account.
        raise ValueError("a leaf port needs the peers that may connect to it and their passwords (JETFLOW_LEAF_PEERS)")
    ours = requests_to(peer_id)
    imports = [
        f"{{service: {{account: {_q(peer_account(other))}, subject: {_q(requests_to(other))}}}}}"
        for other in leaf.linked
    ]
    # Our requests, as each link account's import maps them: with the sender's id in the subject.
    exports = [f"{{service: {_q(subjects.peer_links(peer_id))}}}"]
    if leaf.linked:
        # The federated catalog: what our JetStream needs to source each linked peer's public stream...
        for other in leaf.linked:
            account, reset = _q(peer_account(other)), _reset(other, peer_id, subjects.public_api(other))
            imports += [
                f"{{service: {{account: {account}, subject: {_q(reset)}}}}}",
                f"{{service: {{account: {account}, subject: {_q(_flow_control(other, peer_id))}}}}}",
                f"{{stream: {{account: {account}, subject: {_q(subjects.public_deliver(other, peer_id))}}}}}",
            ]
        # ... and what theirs need to source ours: each its own consumer's, offered to its account only.
        for other in leaf.linked:
            reader = _q(peer_account(other))
            exports += [
                f"{{service: {_q(_reset(peer_id, other))}, accounts: [{reader}]}}",
                f"{{service: {_q(_flow_control(peer_id, other))}, accounts: [{reader}]}}",
                f"{{stream: {_q(subjects.public_deliver(peer_id, other))}, accounts: [{reader}]}}",
            ]
    lines = [
        f"# nats-server of jetflow peer {peer_id!r}: written by jetflow from its settings (README, Federation).",
        f"server_name: {_q(f'jetflow-{peer_id}')}",
        f"listen: {_q(f'{host}:{port}')}",
        f"jetstream {{ store_dir: {_q(store_dir)}, domain: {_q(peer_id)} }}",
    ]
    if not leaf.linked:
        # No peer to keep out: the global account, where a state folder of an earlier jetflow has its streams.
        return "\n".join(lines) + "\n"
    lines += [
        "accounts {",
        f"  {_q(JETFLOW_ACCOUNT)}: {{",
        "    jetstream: enabled",
        f"    users: [{{user: {_q(LOCAL_USER)}}}]",
        f"    exports: [{', '.join(exports)}]",
        f"    imports: [{', '.join(imports)}]",
        "  }",
    ]
    jetflow = _q(JETFLOW_ACCOUNT)
    for other in leaf.linked:
        deliver_in, deliver_out = subjects.public_deliver(other, peer_id), subjects.public_deliver(peer_id, other)
        theirs = [
            f"{{service: {_q(requests_to(other))}}}",
            f"{{service: {_q(_reset(other, peer_id, subjects.public_api(other)))}}}",
            f"{{service: {_q(_flow_control(other, peer_id))}}}",
            f"{{stream: {_q(deliver_in)}}}",
        ]
        to_us = [
            f"{{service: {{account: {jetflow}, subject: {_q(requests_from(peer_id, other))}}}, to: {_q(ours)}}}",
            f"{{service: {{account: {jetflow}, subject: {_q(_reset(peer_id, other))}}}, "
            f"to: {_q(_reset(peer_id, other, subjects.public_api(peer_id)))}}}",
            f"{{service: {{account: {jetflow}, subject: {_q(_flow_control(peer_id, other))}}}}}",
            f"{{stream: {{account: {jetflow}, subject: {_q(deliver_out)}}}}}",
        ]
        lines += [
            f"  {_q(peer_account(other))}: {{",
            f"    exports: [{', '.join(theirs)}]",
            f"    imports: [{', '.join(to_us)}]",
            "  }",
        ]
    lines += ["}", f"no_auth_user: {_q(LOCAL_USER)}"]
    lines.append("leafnodes {")
    if leaf.port is not None:
        lines.append(f"  listen: {_q(f'{leaf.host}:{leaf.port}')}")
        users = [
            f"{{user: {_q(other)}, password: {_q(password.get_secret_value())}, account: {_q(peer_account(other))}}}"
            for other, password in sorted(leaf.peers.items())
        ]
        lines += [f"  authorization {{ users: [{', '.join(users)}] }}"]
        lines += [f"  {line}" for line in _tls(leaf, serving=True)]
    remotes = []
    for other, url in sorted(leaf.remotes.items()):
        parts = [f"url: {_q(url.get_secret_value())}", f"account: {_q(peer_account(other))}"]
        parts += _tls(leaf, serving=False)
        remotes.append(f"    {{{', '.join(parts)}}}")
    if remotes:
        lines += ["  remotes: [", ",\n".join(remotes), "  ]"]
    lines.append("}")
    return "\n".join(lines) + "\n"
