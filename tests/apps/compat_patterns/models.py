"""A custom class passed through Durable Functions: it brings its own to_json/from_json."""

import json


class Order:
    def __init__(self, customer: str, items: dict, total: float | None = None) -> None:
        self.customer = customer
        self.items = items
        self.total = total

    @staticmethod
    def to_json(obj: object) -> str:
        assert isinstance(obj, Order)
        return json.dumps({"customer": obj.customer, "items": obj.items, "total": obj.total})

    @staticmethod
    def from_json(json_str: str) -> "Order":
        data = json.loads(json_str)
        return Order(data["customer"], data["items"], data.get("total"))
