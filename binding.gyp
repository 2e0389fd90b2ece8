{
  "targets": [
    {
      "target_name": "gantry_native",
      "sources": ["native/gantry_native.c", "native/netlink.c", "native/confined.c", "native/layer.c", "native/tarformat.c", "native/blob.c", "native/portforward.c"],
      "cflags": ["-O2", "-Wall"]
    }
  ]
}
