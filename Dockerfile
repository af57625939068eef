# Builds the reference worker (cmd/worker) and the enqueue CLI (and HTTP API).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/worker ./cmd/worker \
 && CGO_ENABLED=0 go build -trimpath -o /out/enqueue ./cmd/enqueue

FROM alpine:3.20
RUN adduser -D -u 10001 jobrunner
COPY --from=build /out/worker /out/enqueue /usr/local/bin/
USER jobrunner
# 9090: the worker's operations endpoints; 8080: enqueue serve (docker-compose.yml's api).
EXPOSE 9090 8080
ENTRYPOINT ["/usr/local/bin/worker"]
