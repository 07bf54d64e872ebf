"""What to measure: the registries of app variants and servers, stacks, scenario files,
the services they ask for, and the planned cells in their order."""
