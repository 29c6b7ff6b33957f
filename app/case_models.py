"""API models of cases: what a case, a pin, an annotation and a snapshot look like on the
wire. They mirror graph.cases field for field, so a stored document is its response."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from app.models import NodeId

CaseStatus = Literal["open", "closed", "archived"]
UserName = Annotated[str, Field(max_length=200)]
TEXT_LIMIT = 20_000


class CaseIn(BaseModel):
    """A new case; its owner is whoever creates it."""

    name: str = Field(min_length=1, max_length=200, examples=["PMK vendors on ChemB2B"])
    members: list[UserName] = Field(default_factory=list, max_length=100, examples=[["alice"]])
    description: str = Field("", max_length=TEXT_LIMIT)


class CaseUpdate(BaseModel):
    """Only the fields given change."""

    name: str | None = Field(None, min_length=1, max_length=200)
    status: CaseStatus | None = None
    members: list[UserName] | None = Field(None, max_length=100)
    description: str | None = Field(None, max_length=TEXT_LIMIT)


class MemberIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, examples=["bob"])


class CaseOut(BaseModel):
    id: str = Field(examples=["case-3f9a1c2b"])
    name: str
    owner: str
    members: list[str]
    status: CaseStatus
    description: str
    created: str
    updated: str


class PinIn(BaseModel):
    """A node by `Label:key`, or a cluster by its id (the same as `Actor:<id>`)."""

    ref: NodeId | None = Field(None, max_length=1000, examples=["Posting:P0000001"])
    cluster: str | None = Field(None, max_length=200, examples=["A3f9a1c2b"])
    note: str = Field("", max_length=TEXT_LIMIT)

    @model_validator(mode="after")
    def one_target(self) -> PinIn:
        if (self.ref is None) == (self.cluster is None):
            raise ValueError("give either ref or cluster")
        return self


class PinOut(BaseModel):
    ref: NodeId = Field(examples=["Actor:A3f9a1c2b"])
    kind: Literal["node", "cluster"]
    by: str
    at: str
    note: str


class EdgeTarget(BaseModel):
    source: NodeId = Field(max_length=1000, examples=["Posting:P0000001"])
    type: str = Field(max_length=50, examples=["HAS_IDENTIFIER"])
    target: NodeId = Field(max_length=1000, examples=["Identifier:phone:+8613800138000"])


class AnnotationIn(BaseModel):
    """A note on a node (`node`) or an edge (`edge`): exactly one of them."""

    node: NodeId | None = Field(None, max_length=1000, examples=["Posting:P0000001"])
    edge: EdgeTarget | None = None
    text: str = Field(min_length=1, max_length=TEXT_LIMIT, examples=["Same phone as case 12"])

    @model_validator(mode="after")
    def one_target(self) -> AnnotationIn:
        if (self.node is None) == (self.edge is None):
            raise ValueError("give either node or edge")
        return self


class AnnotationOut(BaseModel):
    id: str
    case: str
    target: str = Field(description="The node's `Label:key`, or the edge's id.")
    node: NodeId | None
    edge: EdgeTarget | None
    text: str
    author: str
    at: str


class Position(BaseModel):
    x: float
    y: float


class SnapshotIn(BaseModel):
    """Freeze the case's view: the server draws it now; the page may send where each node
    was on screen, and the view's parameters, so the snapshot reopens exactly as seen."""

    title: str = Field("", max_length=200)
    positions: dict[str, Position] = Field(default_factory=dict, max_length=5000)
    view: dict[str, Any] = Field(default_factory=dict, max_length=50)


class SnapshotSummary(BaseModel):
    id: str = Field(examples=["snap-1a2b3c4d"])
    case: str
    title: str
    author: str
    created: str
    nodes: int
    edges: int


class SnapshotOut(BaseModel):
    id: str
    case: str
    title: str
    author: str
    created: str
    network: dict[str, Any] = Field(description="The `Network` as it was drawn.")
    positions: dict[str, Position]
    view: dict[str, Any]
    annotations: list[AnnotationOut]


class ActivityOut(BaseModel):
    """One thing done in the case: who, when, what (and the details of what)."""

    id: str
    at: str
    actor: str
    action: str = Field(examples=["pin"])
    detail: dict[str, Any]
