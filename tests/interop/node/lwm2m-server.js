#!/usr/bin/env node
// Starts lwm2m-node-lib's example CLI server (bin/iotagent-lwm2m-server.js) on loopback.
//
// Usage: node lwm2m-server.js [PORT]      (PORT 0 or absent: a free port)
//
// The library has no host setting: its CoAP server and the client sockets it sends
// through bind the wildcard address. Defaulting every UDP bind in this process to
// 127.0.0.1 keeps the peer on loopback, and binding port 0 avoids racing other tests
// for a port. Once bound, this prints "m2m-interop: listening on 127.0.0.1:PORT" and
// puts the real port into the config, which the library also uses to reach its own
// proxy. Then the CLI reads its commands (start, list, read, ...) on stdin.
'use strict';

const dgram = require('dgram');
const path = require('path');

const HOST = '127.0.0.1';
const port = Number(process.argv[2] || 0);
// command-node treats a single argument as a script file to replay: hide ours.
process.argv.splice(2);

const originalBind = dgram.Socket.prototype.bind;
dgram.Socket.prototype.bind = function bindLoopback(...args) {
    if (args.length > 0 && args[0] !== null && typeof args[0] === 'object') {
        return originalBind.call(this, Object.assign({}, args[0], { address: args[0].address || HOST }), args[1]);
    }
    let bindPort = 0;
    let address;
    let callback;
    if (typeof args[0] === 'function') {
        callback = args[0];
    } else {
        bindPort = args[0] || 0;
        if (typeof args[1] === 'function') {
            callback = args[1];
        } else {
            address = args[1];
            callback = args[2];
        }
    }
    return originalBind.call(this, bindPort, address || HOST, callback);
};

const libraryDir = path.dirname(require.resolve('lwm2m-node-lib/package.json'));
const config = require('lwm2m-node-lib/config');
const coap = require(require.resolve('coap', { paths: [libraryDir] }));

config.server.port = port;

const originalCreateServer = coap.createServer;
coap.createServer = function createLoopbackServer(...args) {
    const server = originalCreateServer.apply(this, args);
    const originalListen = server.listen;
    server.listen = function listenAndReport(listenPort, address, done) {
        if (typeof address === 'function') {
            done = address;
            address = undefined;
        }
        return originalListen.call(this, listenPort, address || HOST, (...results) => {
            const bound = this._sock.address();
            config.server.port = bound.port;
            this._port = bound.port;
            console.log('m2m-interop: listening on %s:%d', bound.address, bound.port);
            if (done) {
                done(...results);
            }
        });
    };
    return server;
};

require('lwm2m-node-lib/bin/iotagent-lwm2m-server.js');
