# tagih daemon image. Asterisk runs beside it (on the host or its own container); the bot talks
# to ARI over HTTP and exchanges RTP with it, so both share the host network (see compose file).
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends libespeak-ng1 espeak-ng \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/tagih
COPY setup.cfg pyproject.toml README.md ./
COPY agent ./agent
COPY locales ./locales
COPY dialplan ./dialplan
# editable: the locale packs (locales/) are found next to the agent package
RUN pip install --no-cache-dir -e .
# speech models are mounted at /opt/tagih/models (tagih models fetch NAME on a connected host)
VOLUME ["/opt/tagih/var", "/opt/tagih/models"]
ENTRYPOINT ["tagih"]
CMD ["run"]
