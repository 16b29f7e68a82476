# Written after the shape of Azure/azure-functions-durable-python samples-v2/blueprint/
# function_app.py: a plain func.FunctionApp at authLevel FUNCTION that registers a df.Blueprint
# and has one HTTP trigger of its own; not a copy. Under `func start` (no --enableAuth) it
# answers without keys, and so must the dev host.
import azure.functions as func

from durable_blueprints import bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(bp)


@app.route(route="HttpTrigger")
def HttpTrigger(req: func.HttpRequest) -> func.HttpResponse:
    name = req.params.get("name")
    if not name:
        try:
            name = (req.get_json() or {}).get("name")
        except ValueError:
            name = None
    if name:
        return func.HttpResponse(f"Hello, {name}. This HTTP triggered function executed successfully.")
    return func.HttpResponse("This HTTP triggered function executed successfully.", status_code=200)
