"""SASL: PLAIN and SCRAM on both sides, the broker's handshake state machine, JAAS configs,
SCRAM credentials in the metadata, and the SASL settings of a broker config."""

from __future__ import annotations

import base64
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker import jaas
from broker.config import ConfigError, build_config, inter_broker_sasl, listener_sasl
from broker.core import scram_control
from broker.core.metadata import (
    MetadataImage,
    RemoveUserScramCredentialRecord,
    UserScramCredentialRecord,
    record_from_dict,
    record_to_dict,
)
from broker.core.sasl import (
    AuthenticationFailed,
    PlainServer,
    SaslAuthenticator,
    ScramServer,
)
from broker.core.scram_control import Deletion, Upsertion
from client import sasl
from client.errors import SaslAuthenticationFailedError, UnsupportedSaslMechanismError
from client.protocol.errors import ErrorCode
from client.sasl import (
    PlainClient,
    SaslCredentials,
    SaslError,
    ScramClient,
    ScramCredential,
    authentication,
)

# RFC 7677 section 3: SCRAM-SHA-256, user "user", password "pencil".
RFC_CLIENT_NONCE = "rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
RFC_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
RFC_CLIENT_FIRST = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_FIRST = (
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
)
RFC_CLIENT_FINAL = (
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
RFC_SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def credential(mechanism: str, password: str, salt: bytes, iterations: int) -> ScramCredential:
    salted = sasl.salted_password(mechanism, password, salt, iterations)
    return sasl.scram_credential(mechanism, salted, salt, iterations)


RFC_CREDENTIAL = credential(sasl.SCRAM_SHA_256, "pencil", RFC_SALT, 4096)


def rfc_server() -> ScramServer:
    def lookup(mechanism: str, user: str) -> ScramCredential | None:
        return RFC_CREDENTIAL if (mechanism, user) == (sasl.SCRAM_SHA_256, "user") else None

    return ScramServer(sasl.SCRAM_SHA_256, lookup, nonce=lambda: RFC_SERVER_NONCE)


# -- SCRAM -------------------------------------------------------------------------------------


def test_scram_client_reproduces_the_rfc_7677_exchange() -> None:
    client = ScramClient(sasl.SCRAM_SHA_256, "user", "pencil", nonce=lambda: RFC_CLIENT_NONCE)
    assert client.first() == RFC_CLIENT_FIRST
    assert client.respond(RFC_SERVER_FIRST) == RFC_CLIENT_FINAL
    assert not client.complete
    assert client.respond(RFC_SERVER_FINAL) is None
    assert client.complete


def test_scram_server_reproduces_the_rfc_7677_exchange() -> None:
    server = rfc_server()
    assert server.evaluate(RFC_CLIENT_FIRST) == RFC_SERVER_FIRST
    assert server.evaluate(RFC_CLIENT_FINAL) == RFC_SERVER_FINAL
    assert server.complete and server.user == "user"


@pytest.mark.parametrize("mechanism", sasl.SCRAM_MECHANISMS)
def test_scram_client_and_server_agree(mechanism: str) -> None:
    stored = credential(mechanism, "s3cret, with=signs", b"salt-bytes", 4096)
    server = ScramServer(mechanism, lambda m, u: stored if u == "a=b,c" else None)
    client = ScramClient(mechanism, "a=b,c", "s3cret, with=signs")
    first = client.first()
    assert b"n=a=3Db=2Cc," in first  # RFC 5802 saslname escapes
    final = client.respond(server.evaluate(first))
    assert final is not None
    assert client.respond(server.evaluate(final)) is None
    assert client.complete and server.complete and server.user == "a=b,c"


def test_scram_server_refuses_a_wrong_password_and_an_unknown_user() -> None:
    client = ScramClient(sasl.SCRAM_SHA_256, "user", "pen", nonce=lambda: RFC_CLIENT_NONCE)
    server = rfc_server()
    final = client.respond(server.evaluate(client.first()))
    assert final is not None
    with pytest.raises(AuthenticationFailed, match="invalid credentials"):
        server.evaluate(final)
    assert not server.complete
    with pytest.raises(AuthenticationFailed, match="invalid credentials"):
        rfc_server().evaluate(b"n,,n=nobody,r=abc")


@pytest.mark.parametrize(
    "token",
    [
        b"p=tls-unique,,n=user,r=abc",  # channel binding
        b"n,,r=abc",  # no user
        b"n,,n=user",  # no nonce
        b"n,,n=us=er,r=abc",  # bad escape
        b"\xff\xfe",
        b"",
        b"n,",  # found by the garbage test below: raised ValueError out of the exchange
    ],
)
def test_scram_server_refuses_malformed_client_first_messages(token: bytes) -> None:
    with pytest.raises(AuthenticationFailed):
        rfc_server().evaluate(token)


def test_scram_server_refuses_a_replayed_or_foreign_nonce() -> None:
    server = rfc_server()
    server.evaluate(RFC_CLIENT_FIRST)
    tampered = RFC_CLIENT_FINAL.replace(b"k0,p=", b"k1,p=")
    with pytest.raises(AuthenticationFailed, match="nonce"):
        server.evaluate(tampered)


def test_scram_client_refuses_a_server_without_the_credential() -> None:
    client = ScramClient(sasl.SCRAM_SHA_256, "user", "pencil", nonce=lambda: RFC_CLIENT_NONCE)
    client.respond(RFC_SERVER_FIRST)
    with pytest.raises(SaslError, match="server signature"):
        client.respond(b"v=" + base64.b64encode(b"x" * 32))
    other = ScramClient(sasl.SCRAM_SHA_256, "user", "pencil", nonce=lambda: RFC_CLIENT_NONCE)
    with pytest.raises(SaslError, match="nonce"):
        other.respond(b"r=someone-else,s=AAAA,i=4096")
    with pytest.raises(SaslError, match="failed: other-error"):
        client.respond(b"e=other-error")


# -- PLAIN -------------------------------------------------------------------------------------


def test_plain_accepts_its_users_only() -> None:
    users = {"alice": "alice-secret"}
    server = PlainServer(users)
    assert server.evaluate(PlainClient("alice", "alice-secret").first()) == b""
    assert server.complete and server.user == "alice"
    assert PlainServer(users).evaluate(b"alice\0alice\0alice-secret") == b""  # authzid = user
    for token, message in [
        (b"\0alice\0wrong", "Invalid username or password"),
        (b"\0bob\0alice-secret", "Invalid username or password"),
        (b"\0\0alice-secret", "username not specified"),
        (b"\0alice\0", "password not specified"),
        (b"bob\0alice\0alice-secret", "authorization id"),
        (b"alice-secret", "expected 3 tokens"),
        (b"\0\xff\0x", "not UTF-8"),
    ]:
        with pytest.raises(AuthenticationFailed, match=message):
            PlainServer(users).evaluate(token)


# -- the broker's handshake state machine ------------------------------------------------------


def authenticator(*mechanisms: str) -> SaslAuthenticator:
    def lookup(mechanism: str, user: str) -> ScramCredential | None:
        return RFC_CREDENTIAL if user == "user" else None

    return SaslAuthenticator(mechanisms or sasl.MECHANISMS, {"alice": "pw"}, lookup)


def body(**fields: Any) -> SimpleNamespace:
    return SimpleNamespace(**fields)


def test_only_api_versions_and_the_handshake_come_before_authentication() -> None:
    auth = authenticator()
    assert auth.on_request(18, 3, None).dispatch
    for api_key in (0, 1, 3, 36):
        step = authenticator().on_request(api_key, 0, body(auth_bytes=b""))
        assert step.close and not step.failed and "unexpected request" in step.reason
    assert not auth.authenticated


def test_plain_through_handshake_v1_and_sasl_authenticate() -> None:
    auth = authenticator()
    step = auth.on_request(17, 1, body(mechanism="PLAIN"))
    assert step.answer == {"error_code": ErrorCode.NONE, "mechanisms": list(sasl.MECHANISMS)}
    assert not step.close
    assert auth.on_request(18, 3, None).close  # no ApiVersions once the handshake is done
    auth = authenticator()
    auth.on_request(17, 1, body(mechanism="PLAIN"))
    step = auth.on_request(36, 2, body(auth_bytes=b"\0alice\0pw"))
    assert step.answer is not None and step.answer["error_code"] == ErrorCode.NONE
    assert auth.principal == "User:alice"


def test_a_refused_login_is_answered_then_closed() -> None:
    auth = authenticator()
    auth.on_request(17, 1, body(mechanism="PLAIN"))
    step = auth.on_request(36, 1, body(auth_bytes=b"\0alice\0nope"))
    assert step.close and step.failed
    assert step.answer is not None
    assert step.answer["error_code"] == ErrorCode.SASL_AUTHENTICATION_FAILED
    assert step.answer["error_message"] == "Authentication failed: Invalid username or password"
    assert not auth.authenticated


def test_an_unsupported_mechanism_is_answered_with_the_enabled_ones_then_closed() -> None:
    step = authenticator("PLAIN").on_request(17, 1, body(mechanism="GSSAPI"))
    assert step.close
    assert step.answer == {
        "error_code": ErrorCode.UNSUPPORTED_SASL_MECHANISM,
        "mechanisms": ["PLAIN"],
    }
    step = authenticator("PLAIN").on_request(17, 1, body(mechanism="SCRAM-SHA-256"))
    assert step.close  # known to odradek, but not enabled on this listener


def test_handshake_v0_takes_bare_tokens() -> None:
    auth = authenticator()
    auth.on_request(17, 0, body(mechanism="SCRAM-SHA-256"))
    assert auth.expects_raw_token
    client = ScramClient(sasl.SCRAM_SHA_256, "user", "pencil")
    step = auth.on_raw_token(client.first())
    assert step.raw is not None and not auth.authenticated
    final = client.respond(step.raw)
    assert final is not None
    step = auth.on_raw_token(final)
    assert step.raw is not None and client.respond(step.raw) is None
    assert auth.principal == "User:user"
    failed = authenticator()
    failed.on_request(17, 0, body(mechanism="PLAIN"))
    step = failed.on_raw_token(b"\0alice\0bad")
    assert step.close and step.failed and step.raw is None


# -- the client's exchange ---------------------------------------------------------------------


def drive(credentials: SaslCredentials, server: SaslAuthenticator) -> list[tuple[int, int]]:
    """Run the client's requests against the broker's state machine in memory."""
    steps = authentication(credentials, 2)
    sent = []
    request = next(steps)
    while True:
        api_key, version, fields = request
        sent.append((api_key, version))
        step = server.on_request(api_key, version, body(**fields))
        assert step.answer is not None
        try:
            request = steps.send(body(**step.answer))
        except StopIteration:
            return sent


def test_the_client_exchange_against_the_broker_state_machine() -> None:
    server = authenticator()
    assert drive(SaslCredentials("PLAIN", "alice", "pw"), server) == [(17, 1), (36, 2)]
    assert server.principal == "User:alice"
    server = authenticator()
    sent = drive(SaslCredentials(sasl.SCRAM_SHA_256, "user", "pencil"), server)
    assert sent == [(17, 1), (36, 2), (36, 2)]
    assert server.principal == "User:user"


def test_the_client_exchange_raises_the_brokers_errors() -> None:
    with pytest.raises(SaslAuthenticationFailedError, match="Invalid username or password"):
        drive(SaslCredentials("PLAIN", "alice", "wrong"), authenticator())
    with pytest.raises(UnsupportedSaslMechanismError, match="the broker enables: PLAIN"):
        drive(SaslCredentials(sasl.SCRAM_SHA_512, "user", "pencil"), authenticator("PLAIN"))
    with pytest.raises(SaslAuthenticationFailedError, match="invalid credentials"):
        drive(SaslCredentials(sasl.SCRAM_SHA_256, "user", "wrong"), authenticator())
    assert "pw" not in repr(SaslCredentials("PLAIN", "alice", "pw"))


# -- JAAS --------------------------------------------------------------------------------------

PLAIN_JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    'username="admin" password="admin-secret" user_admin="admin-secret" '
    'user_alice="a \\"quoted\\" secret";'
)


def test_jaas_entries_parse_like_kafkas() -> None:
    entry = jaas.parse(PLAIN_JAAS)
    assert entry.login_module == jaas.PLAIN_LOGIN_MODULE and entry.flag == "required"
    assert entry.options["username"] == "admin"
    assert entry.plain_users() == {"admin": "admin-secret", "alice": 'a "quoted" secret'}
    bare = jaas.parse(f"{jaas.SCRAM_LOGIN_MODULE} OPTIONAL username=bob password=pw ;")
    assert bare.flag == "optional" and bare.options == {"username": "bob", "password": "pw"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected '<LoginModule class>"),
        ("org.Module always;", "flag 'always'"),
        ("org.Module required username=admin", "must end with ';'"),
        ('org.Module required user="x;', "cannot parse"),
        ("org.Module required a=b; org.Other required;", "only one login module"),
    ],
)
def test_malformed_jaas_entries_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        jaas.parse(text)


# -- SCRAM credentials in the metadata ---------------------------------------------------------


def upsert(name: str, mechanism: int = 1, iterations: int = 4096) -> Upsertion:
    salted = sasl.salted_password(
        sasl.SCRAM_MECHANISM_NAMES.get(mechanism, sasl.SCRAM_SHA_256), "pw", b"salt", iterations
    )
    return Upsertion(name, mechanism, iterations, b"salt", salted)


def results(outcome: list[dict[str, Any]]) -> dict[str, tuple[int, str | None]]:
    return {item["user"]: (item["error_code"], item["error_message"]) for item in outcome}


NOT_FOUND = "Attempt to delete a user credential that does not exist"


def test_alter_credentials_upserts_deletes_and_refuses_as_kafka() -> None:
    image = MetadataImage()
    records, outcome = scram_control.alter_credentials(
        image, [], [upsert("alice"), upsert("bob", 2, 8192)]
    )
    assert results(outcome) == {"alice": (0, None), "bob": (0, None)}
    for record in records:
        image.replay(record_from_dict(record_to_dict(record)))
    found = scram_control.lookup(image, sasl.SCRAM_SHA_256, "alice")
    assert found == credential(sasl.SCRAM_SHA_256, "pw", b"salt", 4096)
    assert scram_control.lookup(image, sasl.SCRAM_SHA_512, "alice") is None
    assert scram_control.lookup(image, sasl.SCRAM_SHA_512, "bob") is not None
    assert "stored_key" not in repr(records[0]) and "salt" not in repr(records[0])

    deletions = [Deletion("alice", 1), Deletion("carol", 1), Deletion("bob", 2), Deletion("bob", 2)]
    deletions += [Deletion("dave", 1), Deletion("dave", 1)]
    upsertions = [upsert("dave"), upsert(""), upsert("erin", 3), upsert("frank", 1, 100)]
    upsertions += [upsert("gina", 1, 20000), upsert("hal"), upsert("hal")]
    records, outcome = scram_control.alter_credentials(
        image,
        deletions,
        upsertions,
    )
    assert results(outcome) == {
        "alice": (0, None),
        "carol": (ErrorCode.RESOURCE_NOT_FOUND, NOT_FOUND),
        "bob": (ErrorCode.DUPLICATE_RESOURCE, scram_control.DUPLICATE_ALTER),
        # a failed user's later changes are not looked at (Kafka's ScramControlManager)
        "dave": (ErrorCode.RESOURCE_NOT_FOUND, NOT_FOUND),
        "": (ErrorCode.UNACCEPTABLE_CREDENTIAL, "Username must not be empty"),
        "erin": (ErrorCode.UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism"),
        "frank": (ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too few iterations"),
        "gina": (ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too many iterations"),
        "hal": (ErrorCode.DUPLICATE_RESOURCE, scram_control.DUPLICATE_ALTER),
    }
    assert records == [RemoveUserScramCredentialRecord("alice", 1)]
    image.replay(records[0])
    assert scram_control.lookup(image, sasl.SCRAM_SHA_256, "alice") is None
    with pytest.raises(ValueError, match="no SCRAM credential"):
        image.replay(RemoveUserScramCredentialRecord("alice", 1))


def test_describe_credentials_lists_mechanisms_and_iterations_never_keys() -> None:
    image = MetadataImage()
    image.replay(UserScramCredentialRecord("bob", 2, "00", "11", "22", 8192))
    image.replay(UserScramCredentialRecord("bob", 1, "00", "11", "22", 4096))
    image.replay(UserScramCredentialRecord("amy", 1, "00", "11", "22", 5000))
    every = scram_control.describe_credentials(image, None)
    assert every["error_code"] == 0
    assert [(r["user"], r["credential_infos"]) for r in every["results"]] == [
        ("amy", [{"mechanism": 1, "iterations": 5000}]),
        ("bob", [{"mechanism": 1, "iterations": 4096}, {"mechanism": 2, "iterations": 8192}]),
    ]
    assert scram_control.describe_credentials(image, []) == every
    some = scram_control.describe_credentials(image, ["amy", "zed", "bob", "bob"])
    codes = {r["user"]: (r["error_code"], r["error_message"]) for r in some["results"]}
    assert codes == {
        "amy": (0, None),
        "zed": (ErrorCode.RESOURCE_NOT_FOUND, scram_control.DESCRIBE_MISSING + "zed"),
        "bob": (ErrorCode.DUPLICATE_RESOURCE, scram_control.DESCRIBE_DUPLICATE + "bob"),
    }


# -- broker config -----------------------------------------------------------------------------

SASL_LISTENERS = "SASL_PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
JAAS_KEY = "listener.name.sasl_plaintext.plain.sasl.jaas.config"


def sasl_config(*entries: tuple[str, str]) -> Any:
    base = [
        ("listeners", SASL_LISTENERS),
        ("sasl.enabled.mechanisms", "PLAIN,SCRAM-SHA-512"),
        ("sasl.mechanism.inter.broker.protocol", "PLAIN"),
        (JAAS_KEY, PLAIN_JAAS),
    ]
    return build_config([*base, *entries]).config


def test_a_sasl_listener_takes_kafkas_keys() -> None:
    config = sasl_config()
    settings = listener_sasl(config, "SASL_PLAINTEXT")
    assert settings is not None
    assert settings.mechanisms == ("PLAIN", "SCRAM-SHA-512")
    assert settings.plain_users["alice"] == 'a "quoted" secret'
    assert "secret" not in repr(settings)
    assert listener_sasl(config, "CONTROLLER") is None
    assert inter_broker_sasl(config, "SASL_PLAINTEXT") == SaslCredentials(
        "PLAIN", "admin", "admin-secret"
    )
    scoped = sasl_config(("listener.name.sasl_plaintext.sasl.enabled.mechanisms", "plain"))
    scoped_settings = listener_sasl(scoped, "SASL_PLAINTEXT")
    assert scoped_settings is not None and scoped_settings.mechanisms == ("PLAIN",)
    plaintext = build_config([]).config
    assert listener_sasl(plaintext, "PLAINTEXT") is None
    assert inter_broker_sasl(plaintext, "PLAINTEXT") is None


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ((("sasl.enabled.mechanisms", "GSSAPI"),), "supports PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"),
        ((("sasl.mechanism.inter.broker.protocol", "SCRAM-SHA-256"),), "must be one of"),
        (((JAAS_KEY, "org.Wrong required;"),), "PLAIN needs"),
        (((JAAS_KEY, "garbage"),), "expected '<LoginModule"),
        (
            ((JAAS_KEY, f'{jaas.PLAIN_LOGIN_MODULE} required user_a="b";'),),
            "needs username and password options",
        ),
    ],
)
def test_bad_sasl_settings_are_refused_clearly(
    entries: tuple[tuple[str, str], ...], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        sasl_config(*entries)


def test_plain_needs_a_jaas_config_and_ssl_a_keystore() -> None:
    with pytest.raises(ConfigError, match=r"enables PLAIN but .*jaas\.config is not set"):
        build_config([("listeners", SASL_LISTENERS), ("sasl.enabled.mechanisms", "PLAIN")])
    with pytest.raises(ConfigError, match=r"needs ssl\.keystore\.location"):
        build_config([("listeners", "SSL://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093")])
    with pytest.raises(ConfigError, match="supports only PLAINTEXT on controller listeners"):
        build_config(
            [
                ("listeners", "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"),
                ("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"),
            ]
        )


# -- garbage in --------------------------------------------------------------------------------

TOKENS = st.one_of(
    st.binary(max_size=200),
    st.lists(
        st.sampled_from([b"n,,", b"n=user", b"r=rOprNGfwEbeRWgbNEkqO", b"c=biws", b"p=AAAA", b","]),
        max_size=8,
    ).map(b"".join),
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.sampled_from(sasl.MECHANISMS), st.lists(TOKENS, min_size=1, max_size=4))
def test_server_mechanisms_refuse_garbage_only_with_authentication_failed(
    mechanism: str, tokens: list[bytes]
) -> None:
    lookup = {"SCRAM-SHA-256": RFC_CREDENTIAL}.get
    server = (
        PlainServer({"user": "pencil"})
        if mechanism == sasl.PLAIN
        else ScramServer(mechanism, lambda m, u: lookup(m) if u == "user" else None)
    )
    for token in tokens:
        try:
            server.evaluate(token)
        except AuthenticationFailed:
            return


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.lists(
        st.tuples(st.sampled_from([0, 3, 17, 18, 36, 99]), st.integers(0, 3), TOKENS),
        min_size=1,
        max_size=6,
    )
)
def test_the_handshake_state_machine_never_raises(requests: list[tuple[int, int, bytes]]) -> None:
    auth = authenticator()
    for api_key, version, token in requests:
        if auth.expects_raw_token:
            step = auth.on_raw_token(token)
        else:
            fields = body(mechanism=token.decode(errors="replace"), auth_bytes=token)
            step = auth.on_request(api_key, version, fields)
        if step.close or auth.authenticated:
            return


def test_the_shipped_sasl_config_loads() -> None:
    from pathlib import Path

    from broker.config import load_config

    path = Path(__file__).resolve().parents[2] / "configs" / "server-sasl.properties"
    loaded = load_config(str(path), [])
    assert loaded.warnings == ()
    config = loaded.config
    assert listener_sasl(config, "PLAINTEXT") is None
    external = listener_sasl(config, "EXTERNAL")
    assert external is not None and set(external.plain_users) == {"admin", "alice"}
    assert inter_broker_sasl(config, "PLAINTEXT") is None  # brokers talk over PLAINTEXT


def test_only_the_standard_authorizer_is_accepted() -> None:
    from broker.config import describe_broker_config, super_users

    standard = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    config = build_config(
        [("authorizer.class.name", standard), ("super.users", " User:admin ; User:ANONYMOUS;")]
    ).config
    assert config.authorizer_class_name == standard
    assert super_users(config) == ("User:admin", "User:ANONYMOUS")
    # ZooKeeper's AclAuthorizer (and anything else) is refused, naming the choices.
    with pytest.raises(ConfigError, match="StandardAuthorizer"):
        build_config([("authorizer.class.name", "kafka.security.authorizer.AclAuthorizer")])
    with pytest.raises(ConfigError, match="Type:Name"):
        build_config([("authorizer.class.name", standard), ("super.users", "admin")])
    config = build_config([]).config
    described = {entry.name: entry for entry in describe_broker_config(config)}
    assert described["authorizer.class.name"].value == ""  # as Kafka reports no authorizer
    assert described["sasl.jaas.config"].sensitive
    assert described["sasl.jaas.config"].value is None
