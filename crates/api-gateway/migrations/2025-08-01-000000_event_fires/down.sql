DROP TABLE event_fires;
