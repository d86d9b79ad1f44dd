"""The four worker roles (feed, strategy, risk, gateway) and the simulated exchange."""
