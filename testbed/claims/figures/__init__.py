"""One module per claim figure, named as the claim's module: ``draw(data, prediction,
params, path)`` reads the cached data and never recomputes."""
