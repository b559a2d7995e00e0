"""Tables that coordinate status sweeps across replicas."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from app.core.database import UTCDateTime


class Lease(SQLModel, table=True):
    """A named lease: the replica that holds an unexpired lease runs the job it names.

    A holder renews its lease while it works; a crashed holder's lease expires and another
    replica takes the job over.
    """

    __tablename__ = "leases"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=255)
    expires_at: datetime = Field(sa_type=UTCDateTime)
