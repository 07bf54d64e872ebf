"""The benchmark harness: plans cells from scenarios, runs servers and Locust, writes results."""
