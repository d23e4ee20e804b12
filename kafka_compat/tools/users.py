"""What `kafka-compat users list|describe|set-password|delete` does: SCRAM users over
the protocol, like the users part of Kafka's kafka-configs.sh
(`--entity-type users --alter --add-config 'SCRAM-SHA-256=[password=...]'`).

- list / describe: DescribeUserScramCredentials (every user, or the ones named).
- set-password: the password is salted here (random 32-byte salt, PBKDF2 with the
  mechanism's HMAC, as Kafka's client does), and AlterUserScramCredentials carries
  only the salt and the salted password.
- delete: AlterUserScramCredentials deletions (one mechanism, or every one the user
  has).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from kafka_compat.security.credentials import MECHANISMS_BY_TYPE, SCRAM_MECHANISMS
from kafka_compat.tools.connection import AdminTool, Connection, ToolError, table
from protocol import messages
from protocol.api_keys import ApiKey
from protocol.errors import ErrorCode

DescribeRequest = messages.request_type(ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS)
AlterRequest = messages.request_type(ApiKey.ALTER_USER_SCRAM_CREDENTIALS)


@dataclass
class UserView:
    user: str
    credentials: dict[str, int]  # mechanism name -> iterations


def describe_users(conn: Connection, users: list[str] | None = None) -> list[UserView]:
    """The users' SCRAM credentials; ToolError names a user that has none."""
    body = DescribeRequest(users=[DescribeRequest.UserName(name=u) for u in users or []])
    answer = conn.request(ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS, body)
    if answer.error_code:
        raise ToolError(f"{ErrorCode(answer.error_code).name}: {answer.error_message or ''}")
    views = []
    for result in answer.results:
        if result.error_code:
            raise ToolError(result.error_message or ErrorCode(result.error_code).name)
        views.append(
            UserView(
                result.user,
                {
                    MECHANISMS_BY_TYPE[i.mechanism].name: i.iterations
                    for i in result.credential_infos
                    if i.mechanism in MECHANISMS_BY_TYPE
                },
            )
        )
    return views


def _alter(conn: Connection, deletions: list, upsertions: list) -> None:
    answer = conn.request(
        ApiKey.ALTER_USER_SCRAM_CREDENTIALS,
        AlterRequest(deletions=deletions, upsertions=upsertions),
    )
    failed = [r for r in answer.results if r.error_code]
    if failed:
        raise ToolError(
            "; ".join(
                f"{r.user}: {ErrorCode(r.error_code).name}: {r.error_message or ''}" for r in failed
            )
        )


def set_password(
    conn: Connection, user: str, password: str, mechanism: str, iterations: int = 4096
) -> None:
    """Create or replace the user's credential for `mechanism`."""
    m = SCRAM_MECHANISMS.get(mechanism)
    if m is None:
        raise ToolError(f"unknown mechanism {mechanism!r}: {', '.join(SCRAM_MECHANISMS)}")
    salt = os.urandom(32)
    upsertion = AlterRequest.ScramCredentialUpsertion(
        name=user,
        mechanism=m.type,
        iterations=iterations,
        salt=salt,
        salted_password=m.salted_password(password, salt, iterations),
    )
    _alter(conn, [], [upsertion])


def delete_user(conn: Connection, user: str, mechanism: str | None = None) -> None:
    """Remove the user's credential for `mechanism`, or all of them."""
    if mechanism is None:
        names = list(describe_users(conn, [user])[0].credentials)
    elif mechanism in SCRAM_MECHANISMS:
        names = [mechanism]
    else:
        raise ToolError(f"unknown mechanism {mechanism!r}: {', '.join(SCRAM_MECHANISMS)}")
    _alter(
        conn,
        [
            AlterRequest.ScramCredentialDeletion(name=user, mechanism=SCRAM_MECHANISMS[n].type)
            for n in names
        ],
        [],
    )


def format_users(views: list[UserView]) -> str:
    rows = [
        [v.user, ", ".join(f"{m} (iterations={i})" for m, i in sorted(v.credentials.items()))]
        for v in views
    ]
    return "\n".join(table(["USER", "CREDENTIALS"], rows))


class UserTool(AdminTool):
    """The bootstrap broker answers (any broker does: the store is shared)."""

    def list_users(self) -> list[UserView]:
        return describe_users(self.bootstrap)

    def describe(self, users: list[str]) -> list[UserView]:
        return describe_users(self.bootstrap, users)

    def set_password(self, user: str, password: str, mechanism: str, iterations: int) -> None:
        set_password(self.bootstrap, user, password, mechanism, iterations)

    def delete(self, user: str, mechanism: str | None) -> None:
        delete_user(self.bootstrap, user, mechanism)


def add_parser(commands) -> None:
    """`kafka-compat users ...` (cli.py)."""
    users = commands.add_parser("users", help="SCRAM users: list, describe, set passwords")
    user_commands = users.add_subparsers(dest="users_command", required=True)
    listing = user_commands.add_parser("list", help="every user with a SCRAM credential")
    describe = user_commands.add_parser("describe", help="the named users' credentials")
    describe.add_argument("user", nargs="+")
    setting = user_commands.add_parser(
        "set-password", help="create or replace a user's SCRAM credential"
    )
    setting.add_argument("user")
    setting.add_argument("--mechanism", default="SCRAM-SHA-256", choices=sorted(SCRAM_MECHANISMS))
    setting.add_argument("--iterations", type=int, default=4096, help="4096..16384")
    setting.add_argument(
        "--password", help="the password (default: read from the terminal, or stdin)"
    )
    delete = user_commands.add_parser("delete", help="remove a user's SCRAM credentials")
    delete.add_argument("user")
    delete.add_argument(
        "--mechanism", choices=sorted(SCRAM_MECHANISMS), help="only this one (default: all)"
    )
    from kafka_compat.tools.common import add_connection_arguments, add_output_argument

    for sub in (listing, describe, setting, delete):
        add_connection_arguments(sub)
        add_output_argument(sub)


def main(args) -> int:
    import getpass
    import sys
    from dataclasses import asdict

    from kafka_compat.tools.common import print_json

    command = args.users_command
    json_out = getattr(args, "output", "text") == "json"
    try:
        with UserTool(args.bootstrap_server, args.timeout) as tool:
            if command in ("list", "describe"):
                views = tool.list_users() if command == "list" else tool.describe(args.user)
                if json_out:
                    print_json({"users": [asdict(v) for v in views]})
                else:
                    print(format_users(views))
            elif command == "set-password":
                password = args.password
                if password is None:
                    password = (
                        getpass.getpass(f"Password for {args.user}: ")
                        if sys.stdin.isatty()
                        else sys.stdin.readline().rstrip("\n")
                    )
                if not password:
                    raise ToolError("the password must not be empty")
                tool.set_password(args.user, password, args.mechanism, args.iterations)
                if json_out:
                    print_json({"user": args.user, "set": args.mechanism})
                else:
                    print(f"Set the {args.mechanism} credential of user '{args.user}'.")
            else:
                tool.delete(args.user, args.mechanism)
                which = args.mechanism or "every SCRAM"
                if json_out:
                    print_json({"user": args.user, "deleted": args.mechanism or "all"})
                else:
                    print(f"Deleted the {which} credential of user '{args.user}'.")
    except ToolError as exc:
        print(f"kafka-compat: {exc}", file=sys.stderr)
        return 1
    return 0
