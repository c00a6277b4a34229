from shiftswitch.problems import Place
from shiftswitch.roster.yamldoc import Value

def load(
    data: bytes, values: int, depth: int, text: int, shallow: int
) -> tuple[Value, dict[Place, int]] | None: ...
