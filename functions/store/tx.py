"""An atomic write of several conditional items, each tagged with what its failure means."""

from __future__ import annotations

from dataclasses import dataclass, field

from pynamodb.connection import Connection
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from functions.store.errors import translated
from sdk.contracts.errors import Conflict, TrainyardError


@dataclass
class _Put:
    row: Model
    condition: Condition | None
    on_fail: TrainyardError


@dataclass
class _Update:
    row: Model
    actions: list[Action]
    condition: Condition | None
    on_fail: TrainyardError


@dataclass
class Write:
    """Collect items, then `commit` them all or none (TransactWriteItems)."""

    puts: list[_Put] = field(default_factory=list)
    updates: list[_Update] = field(default_factory=list)

    def put(self, row: Model, *, condition: Condition | None = None, on_fail: TrainyardError | None = None) -> None:
        self.puts.append(_Put(row, condition, on_fail or Conflict(f"{type(row).__name__}: write refused")))

    def update(
        self, row: Model, *, actions: list[Action], condition: Condition | None, on_fail: TrainyardError
    ) -> None:
        self.updates.append(_Update(row, actions, condition, on_fail))

    def commit(self, connection: Connection) -> None:
        # PynamoDB sends condition checks, deletes, puts, then updates; the cancellation
        # reasons come back in that order, so on_fail must list them the same way.
        on_fail = [p.on_fail for p in self.puts] + [u.on_fail for u in self.updates]
        with translated(on_fail=on_fail):
            if len(self.puts) == 1 and not self.updates:
                # A single item needs no transaction (which costs twice the write units).
                self.puts[0].row.save(condition=self.puts[0].condition)
                return
            with TransactWrite(connection=connection) as tx:
                for p in self.puts:
                    tx.save(p.row, condition=p.condition)
                for u in self.updates:
                    tx.update(u.row, actions=u.actions, condition=u.condition)
