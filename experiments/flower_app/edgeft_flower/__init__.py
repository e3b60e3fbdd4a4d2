"""edgeft's Flower app (ServerApp + ClientApp); the code lives in the edgeft packages."""
