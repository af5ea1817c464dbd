from performance.selectors import current_cycle


def workspace(request):
    """The year the navigation links point to (the latest cycle) and the Ente's name."""
    if not request.user.is_authenticated:
        return {}
    cycle = current_cycle()
    if cycle is None:
        return {}
    return {"nav_year": cycle.year, "organization_name": str(cycle.organization)}
