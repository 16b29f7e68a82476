"""HTTP functions on a blueprint, registered by function_app.py."""

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="from-blueprint", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def from_blueprint(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("blueprint ok")
