#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""An ordinary XMPP client (slixmpp, a library nobody here wrote) logged in
beside a libipop node on the same account, on a prosody with its stock
room settings, carbons, offline storage and archive (issue 18):
  - the node makes a SocialVPN friend through the library alone
    (friend_add, friend_accept) and links with it; with carbons on, the
    client gets no copy of the node's signalling meanwhile (direct chat
    messages between the two nodes' full JIDs: what carbons copy unless
    told not to);
  - a chat message to the bare JID while both are online reaches it;
  - one sent while only the node is online waits in offline storage and
    reaches it when it logs in again;
  - a disco#info query to the node's full JID is answered: a bot.
Skipped (77) without python3-slixmpp or prosody."""
from __future__ import annotations

import asyncio
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import ipop  # noqa: E402
import testmain  # noqa: E402

try:
    import slixmpp
except ImportError:
    slixmpp = None

PROSODY_SH = os.environ.get("PROSODY_SH")
SIGNAL_NS = "urn:ipop:signal:1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if slixmpp:
    class Client(slixmpp.ClientXMPP):
        """A person's client: carbons on when asked, counts what comes."""

        def __init__(self, jid: str, password: str, carbons: bool):
            super().__init__(jid, password)
            self.ssl_context.check_hostname = False
            self.ssl_context.verify_mode = ssl.CERT_NONE  # the test server's own certificate
            self.carbons = carbons
            self.register_plugin("xep_0030")
            self.register_plugin("xep_0280")
            self.bodies: list[str] = []
            self.signals = 0
            self.started = asyncio.Event()
            self.gone = asyncio.Event()
            self.add_event_handler("session_start", self.on_start)
            self.add_event_handler("message", self.on_message)
            self.add_event_handler("disconnected", lambda _: self.gone.set())
            # every stanza that comes in, carbon copies included
            self.add_filter("in", self.on_in)

        def on_in(self, stanza):
            if SIGNAL_NS in str(stanza):
                self.signals += 1
            return stanza

        async def on_start(self, _):
            if self.carbons:
                await self.plugin["xep_0280"].enable()
            self.send_presence()
            await self.get_roster()
            self.started.set()

        def on_message(self, msg):
            if msg["body"]:
                self.bodies.append(msg["body"])


async def online(jid: str, port: int, carbons: bool = False) -> "Client":
    c = Client(jid, "pw", carbons)
    c.connect(("127.0.0.1", port))
    await asyncio.wait_for(c.started.wait(), 20)
    return c


async def offline(c: "Client") -> None:
    c.disconnect()
    await asyncio.wait_for(c.gone.wait(), 10)


async def until(cond, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        await asyncio.sleep(0.05)
    return cond()


@unittest.skipUnless(slixmpp and PROSODY_SH and shutil.which("prosody") and shutil.which("openssl"),
                     "needs python3-slixmpp, prosody and openssl")
class ClientBeside(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ipop-slix-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        env = dict(os.environ, IPOP_PROSODY_VARIANT="stock")
        subprocess.run(["bash", PROSODY_SH, "start", self.dir, "127.0.0.1", str(self.port), "me:pw", "peer:pw",
                        "friend:pw"], check=True, capture_output=True, env=env)
        with open(os.path.join(self.dir, "fingerprint")) as f:
            self.fp = f.read().strip()

    def tearDown(self):
        subprocess.run(["bash", PROSODY_SH, "stop", self.dir], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def node(self, user: str, address: str) -> ipop.Network:
        return ipop.Network(user, options={
            "mode": "none", "address": address, "overlay": "social", "xmpp.jid": f"{user}@ipop.test",
            "xmpp.password": "pw", "xmpp.server": "127.0.0.1", "xmpp.port": str(self.port),
            "xmpp.server-fingerprint": self.fp, "social.subnet": "10.91.0.0/24",
            "social.state-file": os.path.join(self.dir, f"{user}.friends"), "ice.local-address": "127.0.0.1"})

    def test_client_beside(self):
        asyncio.run(self.scenario())

    async def scenario(self):
        phone = await online("me@ipop.test/phone", self.port, carbons=True)
        friend = await online("friend@ipop.test/laptop", self.port)
        with self.node("me", "10.90.0.1/24") as me, self.node("peer", "10.90.0.2/24") as peer:
            def linked() -> bool:
                link = me.get_link(peer.node_id)
                return link is not None and link.state == ipop.LinkState.CONNECTED
            def asked() -> bool:
                try:
                    me.friend_add("peer@ipop.test")
                    return True
                except ipop.IpopError:
                    return False  # the session is not up yet
            self.assertTrue(await until(asked, 20))
            self.assertTrue(await until(lambda: any(f.request for f in peer.friends()), 20),
                            "peer's node never saw the friend request")
            peer.friend_accept("me@ipop.test")
            self.assertTrue(await until(linked, 60), "the two nodes did not link")
            await asyncio.sleep(0.5)
            self.assertEqual(phone.signals, 0, "the phone got copies of the node's signalling")

            friend.send_message(mto="me@ipop.test", mbody="both online", mtype="chat")
            self.assertTrue(await until(lambda: "both online" in phone.bodies, 10),
                            "a chat to the bare JID did not reach the phone while the node is online")

            full = f"me@ipop.test/ipop-{me.node_id[:12]}"
            info = await friend["xep_0030"].get_info(jid=full, timeout=10)
            identities = info["disco_info"]["identities"]
            self.assertTrue(any(i[0] == "client" and i[1] == "bot" for i in identities), identities)

            await offline(phone)
            friend.send_message(mto="me@ipop.test", mbody="only the node online", mtype="chat")
            await asyncio.sleep(0.5)
            phone = await online("me@ipop.test/phone", self.port, carbons=True)
            self.assertTrue(await until(lambda: "only the node online" in phone.bodies, 10),
                            "the message sent while only the node was online never reached the phone")
            self.assertEqual(phone.signals, 0)
            self.assertTrue(linked(), "the node lost its link meanwhile")
        await offline(phone)
        await offline(friend)


if __name__ == "__main__":
    testmain.main()
