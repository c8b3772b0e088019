"""What the tests share: real servers on loopback, the CLI, the gateway (in-process and as a
process), a scripted provider registered like any plugin, replayed provider wires, Chromium,
and the documented bodies those wires carry. Test modules mirror the source tree beside this."""
